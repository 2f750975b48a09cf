//! The syntax layer: the grammar, the tree, and a parser that never fails.
//!
//! **Architecture invariant:** this module knows nothing of salsa, Cedar or LSP. It
//! turns text into an [`ast`] plus [`parser::SyntaxError`]s, and nothing else.

pub mod ast;
pub mod parser;

pub use parser::{parse, ParsedFile, SyntaxError, SyntaxErrorKind};
