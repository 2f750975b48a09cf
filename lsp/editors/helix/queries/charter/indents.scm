; Indents for Helix: the body of a braced or bracketed block is one level in; the closing
; bracket goes back out.

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
] @indent

[
  "}"
  "]"
  ")"
] @outdent
