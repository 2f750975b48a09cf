; Definitions and references for code navigation (`tree-sitter tags`, GitHub). Every name
; is global to the bundle, so there are no local scopes.

(scenario_decl
  name: (identifier) @name) @definition.class

(dataset_decl
  name: (path) @name) @definition.module

(field_decl
  name: (identifier) @name) @definition.field

(action_decl
  name: (identifier) @name) @definition.function

(measure_decl
  name: (identifier) @name) @definition.method

(fact_decl
  name: (identifier) @name) @definition.field

(domain_decl
  name: (identifier) @name) @definition.type

(grade_entry
  name: (identifier) @name) @definition.constant

(exit_decl
  name: (identifier) @name) @definition.function

(suspend_decl
  name: (identifier) @name) @definition.function

(notice_decl
  name: (identifier) @name) @definition.function

(forbid_decl
  name: (identifier) @name) @definition.function

(use_stmt
  dataset: (path) @name) @reference.module

(expect_decision
  scenario: (identifier) @name) @reference.class

(expect_trigger
  rule: (identifier) @name) @reference.call
