//! The runtime: an embedded decision engine over compiled bundles (issue 3 fills it).
