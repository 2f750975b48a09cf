; Indents, in nvim-treesitter's capture names: the body of a braced or bracketed block
; is indented one level; the closing bracket goes back to the opening line's level.

[
  (grades_decl)
  (classify_decl)
  (dataset_decl)
  (scenario_decl)
  (admission_decl)
  (exit_decl)
  (suspend_decl)
  (notice_decl)
  (limits_decl)
  (forbid_decl)
  (fact_block)
  (test_decl)
  (field_set)
  (value_list)
  (list)
  (paren)
] @indent.begin

[
  "}"
  "]"
  ")"
] @indent.branch @indent.end

[
  (comment)
  (doc_comment)
] @indent.auto
