; Text objects for Helix: `maf` selects a declaration (a "function" in Helix's words),
; `mac`/`mic` a comment, `maT` a test.

[
  (grades_decl)
  (grade_rule)
  (classify_decl)
  (domain_decl)
  (dataset_decl)
  (scenario_decl)
  (admission_decl)
  (exit_decl)
  (suspend_decl)
  (notice_decl)
  (limits_decl)
  (fixture_decl)
  (action_decl)
  (measure_decl)
  (fact_decl)
  (forbid_decl)
  (consent_decl)
] @function.around

(test_decl) @test.around

[
  (comment)
  (doc_comment)
] @comment.inside

(comment)+ @comment.around

(doc_comment)+ @comment.around
