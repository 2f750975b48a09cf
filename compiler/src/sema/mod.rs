//! The semantic layer: the bundle's model, expression types, and the checks.
//!
//! **Architecture invariant:** plain functions over syntax trees and the model; no
//! salsa here (the `db` module wraps these in queries) and no LSP anywhere.

pub mod check;
pub mod expr;
pub mod model;
