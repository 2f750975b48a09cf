//! The language server over the compiler's salsa database (issue 5 fills it).
