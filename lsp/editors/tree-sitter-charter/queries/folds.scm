; Folds: every braced block, and runs of doc comments are left to the editor.

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
  (fixture_decl)
  (test_decl)
  (fact_block)
  (value_list)
  (list)
] @fold
