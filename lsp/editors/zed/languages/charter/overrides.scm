; Scopes for the language config's `not_in`: no auto-closed quote inside a string or a
; comment.

[
  (comment)
  (doc_comment)
] @comment.inclusive

(string) @string
