; The outline panel: each declaration by its keyword and name; fields under datasets.

(grades_decl
  "grades" @name) @item

(grade_rule
  "grade" @context
  grade: (identifier) @name) @item

(classify_decl
  "classify" @context
  "field" @name) @item

(domain_decl
  "domain" @context
  name: (identifier) @name) @item

(dataset_decl
  "dataset" @context
  name: (path) @name) @item

(field_decl
  "field" @context
  name: (identifier) @name) @item

(scenario_decl
  "scenario" @context
  name: (identifier) @name) @item

(admission_decl
  "admission" @name) @item

(exit_decl
  "exit" @context
  name: (identifier) @name) @item

(suspend_decl
  "suspend" @context
  name: (identifier) @name) @item

(notice_decl
  "notice" @context
  name: (identifier) @name) @item

(limits_decl
  "limits" @name) @item

(forbid_decl
  "forbid" @context
  name: (identifier) @name) @item

(consent_decl
  "consent" @context
  "required" @name) @item

(action_decl
  "action" @context
  name: (identifier) @name) @item

(measure_decl
  "measure" @context
  name: (identifier) @name) @item

(fact_decl
  "fact" @context
  name: (identifier) @name) @item

(fixture_decl
  "fixture" @context
  name: (string) @name) @item

(test_decl
  "test" @context
  name: (string) @name) @item
