; Highlights for Charter, in nvim-treesitter's capture names; `lsp/editors/sync-queries.py`
; writes the Helix and Zed variants from this file. The kinds follow the language server's
; semantic tokens: datasets are modules, fields and facts properties, grades constants,
; actions functions, measures methods, rules labels, scenarios and domains types.
;
; No two patterns capture the same node: Neovim lets the last pattern win, Helix and
; `tree-sitter highlight` the first.

; ------------------------------------------------------------------ keywords

[
  "grades"
  "grade"
  "classify"
  "domain"
  "dataset"
  "scenario"
  "admission"
  "exit"
  "suspend"
  "notice"
  "limits"
  "test"
  "fixture"
  "action"
  "measure"
  "fact"
  "forbid"
  "consent"
] @keyword

[
  "allows"
  "requires"
  "required"
  "for"
  "field"
  "source"
  "tags"
  "purpose"
  "term"
  "use"
  "via"
  "require"
  "measures"
  "max_term"
  "reapply_window"
  "given"
  "developer"
  "at"
  "expect"
  "by"
  "with"
  "because"
  "actions"
  "article"
  "allow"
  "deny"
  (priority_flag)
] @keyword

[
  "when"
  "then"
  "otherwise"
] @keyword.conditional

[
  "and"
  "or"
  "not"
  "contains"
  "in"
] @keyword.operator

"set" @type.builtin

; ------------------------------------------------------------------ literals

(string) @string

(escape_sequence) @string.escape

[
  (int)
  (date)
  (duration)
] @number

(boolean) @boolean

(wildcard) @character.special

; ------------------------------------------------------------------ comments

(comment) @comment

(doc_comment) @comment.documentation

; ------------------------------------------------------------------ declarations

(grade_entry
  name: (identifier) @constant)

(grade_rule
  grade: (identifier) @constant)

(grade_rule
  actions: (ident_list
    (identifier) @function))

(classify_arm
  grade: (identifier) @constant)

(otherwise_arm
  grade: (identifier) @constant)

(field_decl
  grade: (identifier) @constant)

(domain_decl
  name: (identifier) @type)

(domain_stmt
  domain: (identifier) @type)

(dataset_decl
  name: (path
    (identifier) @module))

(field_decl
  name: (identifier) @property)

(scenario_decl
  name: (identifier) @type)

(use_stmt
  dataset: (path
    (identifier) @module))

(use_stmt
  actions: (ident_list
    (identifier) @function))

(field_set
  (ident_list
    (identifier) @property))

(exit_decl
  name: (identifier) @label)

(suspend_decl
  name: (identifier) @label)

(notice_decl
  name: (identifier) @label)

(forbid_decl
  name: (identifier) @label)

(forbid_decl
  actions: (ident_list
    (identifier) @function))

(measures_stmt
  measures: (ident_list
    (identifier) @function.method))

(action_decl
  name: (identifier) @function)

(measure_decl
  name: (identifier) @function.method)

(fact_decl
  name: (identifier) @property)

(fact_decl
  type: (identifier) @type.builtin)

(set_type
  element: (identifier) @type.builtin)

; ------------------------------------------------------------------ tests

(fact_assign
  name: (identifier) @property)

(expect_decision
  action: (identifier) @function)

(expect_decision
  dataset: (path
    (identifier) @module))

(expect_decision
  scenario: (identifier) @type)

(because
  rule: (path
    (identifier) @label))

(expect_trigger
  rule: (identifier) @label)

; ------------------------------------------------------------------ expressions

; A name in a condition: `now`, `tags`, `name` or the root of `developer.…`, `dataset.…`,
; `limits.…` is built in; what follows the dot is a fact or a property. One pattern per
; parent, so that no identifier gets two captures (editors disagree on which one wins).

((when_stmt
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(when_stmt
  (path
    (identifier)
    (identifier) @property))

((require_stmt
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(require_stmt
  (path
    (identifier)
    (identifier) @property))

((classify_arm
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(classify_arm
  (path
    (identifier)
    (identifier) @property))

((or_expr
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(or_expr
  (path
    (identifier)
    (identifier) @property))

((and_expr
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(and_expr
  (path
    (identifier)
    (identifier) @property))

((not_expr
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(not_expr
  (path
    (identifier)
    (identifier) @property))

((cmp_expr
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(cmp_expr
  (path
    (identifier)
    (identifier) @property))

((sum_expr
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(sum_expr
  (path
    (identifier)
    (identifier) @property))

((list
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(list
  (path
    (identifier)
    (identifier) @property))

((paren
  (path
    .
    (identifier) @variable.builtin))
  (#any-of? @variable.builtin "developer" "dataset" "limits" "now" "tags" "name"))

(paren
  (path
    (identifier)
    (identifier) @property))

; ------------------------------------------------------------------ punctuation

(cmp_expr
  operator: [
    "=="
    "!="
    "<="
    ">="
    "<"
    ">"
  ] @operator)

[
  "+"
  "-"
  "="
  ".."
] @operator

(set_type
  [
    "<"
    ">"
  ] @punctuation.bracket)

[
  "{"
  "}"
  "["
  "]"
  "("
  ")"
] @punctuation.bracket

[
  ","
  ":"
  "."
] @punctuation.delimiter
