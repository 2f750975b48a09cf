#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let out = std::env::args().nth(2).unwrap();
    let w = charter_runtime::bench::synthetic(n, 10, 1).unwrap();
    std::fs::write(out, serde_json::to_string(&w.bundle).unwrap()).unwrap();
}
