//! The syntax layer: the grammar, its token stream, the tree, and a parser that never
//! fails.
//!
//! **Architecture invariant:** this module knows nothing of salsa, Cedar or LSP. It
//! turns text into [`lexer::Token`]s, an [`ast`] and [`parser::SyntaxError`]s, and
//! nothing else; the grammar (`charter.pest`) is the only definition of the syntax.

pub mod ast;
pub mod lexer;
pub mod parser;

pub use lexer::{lex, Token, TokenKind};
pub use parser::{parse, ParsedFile, SyntaxError, SyntaxErrorKind};
