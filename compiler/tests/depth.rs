//! Long and deep expressions: a chain of `and`/`or` of any length checks, builds (Cedar's
//! strict validator included) and formats; nesting up to `MAX_NESTING` does so on a
//! 2 MiB thread, the stack Rust gives a spawned thread; nesting past it is `CH0004` at
//! the token where the nesting starts, never a stack overflow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use charter_compiler::format::format_source;
use charter_compiler::syntax::parser::MAX_NESTING;
use charter_compiler::{Code, Compiler};

const MANIFEST: &str = "[bundle]\nname = \"t\"\nversion = \"0.1.0\"\n";

/// Runs `f` on a thread with a 2 MiB stack, as a spawned thread gets by default.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// A bundle whose one exit rule has condition `cond`.
fn bundle(cond: &str) -> Compiler {
    let text = format!("exit 深 \"深\" {{\n  when {cond}\n  measures terminate\n}}\n");
    Compiler::from_sources(Some(MANIFEST), [("a.charter".to_string(), text)])
}

fn chain(op: &str, n: usize) -> String {
    let terms = [
        "developer.incidents_3y == 0",
        "developer.open_incidents > 1",
        "not developer.dishonest_listed",
        "(developer.warnings >= 2 or developer.improved_after_warning)",
    ];
    (0..n)
        .map(|i| terms[i % terms.len()])
        .collect::<Vec<_>>()
        .join(&format!(" {op}\n    "))
}

/// Checks, builds and formats `cond`; returns the errors' codes (empty when it built).
fn compile_and_format(cond: String) -> Vec<Code> {
    let c = bundle(&cond);
    let errors: Vec<Code> = c
        .diagnostics()
        .into_iter()
        .filter(|d| d.severity == charter_compiler::Severity::Error)
        .map(|d| d.code)
        .collect();
    if errors.is_empty() {
        let (b, _) = c.build().unwrap_or_else(|d| panic!("{d:#?}"));
        assert_eq!(b.catalog.scenarios.len(), 0);
        let text = format!("exit 深 \"深\" {{\n  when {cond}\n  measures terminate\n}}\n");
        let once = format_source("a.charter", &text).unwrap();
        assert_eq!(format_source("a.charter", &once).unwrap(), once);
    }
    errors
}

#[test]
fn chains_of_20000_terms_check_build_and_format_on_a_small_stack() {
    for op in ["and", "or"] {
        // 100,000 terms through the binary: tests/depth.rs of the cli crate.
        let errors = on_small_stack(move || compile_and_format(chain(op, 20_000)));
        assert!(errors.is_empty(), "{op}: {errors:?}");
    }
}

#[test]
fn a_chain_lowers_to_a_balanced_tree() {
    let c = bundle(&chain("and", 1000));
    let (b, _) = c.build().unwrap();
    let text = b
        .policies
        .iter()
        .find(|p| p.id.starts_with("exit/"))
        .map(|p| p.cedar.clone())
        .unwrap();
    // Depth of parentheses in the Cedar text: log2 of the chain's length, plus the
    // few levels each term and the policy around it bring.
    let (mut depth, mut max) = (0i32, 0i32);
    for ch in text.chars() {
        match ch {
            '(' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    assert!(max < 20, "parentheses nest {max} deep:\n{text}");
}

/// The deepest shapes the limit allows: every level a `not`, a bracket, or a
/// parenthesis holding `or`, `and` and a comparison (four nodes of the tree per level).
fn deep_shapes(levels: usize) -> Vec<(&'static str, String)> {
    let nots = format!("{}developer.dishonest_listed", "not ".repeat(levels));
    let parens = format!(
        "{}developer.dishonest_listed{}",
        "(".repeat(levels),
        ")".repeat(levels)
    );
    let mut mixed = String::from("developer.dishonest_listed");
    for _ in 0..levels {
        mixed =
            format!("(developer.serious_dishonest or developer.warnings > 0 and {mixed} == true)");
    }
    let mut mixed_not = String::from("developer.dishonest_listed");
    for i in 0..levels {
        mixed_not = if i % 2 == 0 {
            format!("not {mixed_not}")
        } else {
            format!("(developer.serious_dishonest and {mixed_not})")
        };
    }
    vec![
        ("nots", nots),
        ("parens", parens),
        ("mixed", mixed),
        ("mixed_not", mixed_not),
    ]
}

#[test]
fn nesting_at_the_limit_checks_builds_and_formats_on_a_small_stack() {
    for (name, cond) in deep_shapes(MAX_NESTING) {
        let errors = on_small_stack(move || compile_and_format(cond));
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

#[test]
fn nesting_past_the_limit_is_ch0004_where_it_starts() {
    let mut shapes = deep_shapes(MAX_NESTING + 1);
    shapes.extend(
        deep_shapes(100_000)
            .into_iter()
            .filter(|(n, _)| *n != "mixed"),
    );
    for (name, cond) in shapes {
        let cond2 = cond.clone();
        let diags = on_small_stack(move || bundle(&cond2).diagnostics());
        let codes: Vec<Code> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec![Code::NestingTooDeep], "{name}: {diags:#?}");
        let d = &diags[0];
        // The span is the first token of the condition: where the nesting starts.
        let text = format!("exit 深 \"深\" {{\n  when {cond}\n  measures terminate\n}}\n");
        let at = text.find(" when ").unwrap() + " when ".len();
        assert_eq!(d.span.start as usize, at, "{name}");
        assert!(d.message.contains("nested more than"), "{}", d.message);
        // The formatter refuses the file with the same message, without overflowing.
        let err = on_small_stack(move || format_source("a.charter", &text).unwrap_err());
        assert!(err.to_string().contains("nested more than"), "{err}");
    }
}

#[test]
fn a_sum_of_100000_terms_is_ch0004_not_a_crash() {
    let sum = (0..100_000).map(|_| "1").collect::<Vec<_>>().join(" + ");
    let cond = format!("developer.warnings < {sum}");
    let diags = on_small_stack(move || bundle(&cond).diagnostics());
    let codes: Vec<Code> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![Code::NestingTooDeep], "{diags:#?}");
}

#[test]
fn deeply_nested_fact_values_are_ch0004() {
    let value = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let text = format!("fixture \"d\" {{ warnings = {value} }}\n");
    let diags = on_small_stack(move || {
        Compiler::from_sources(Some(MANIFEST), [("a.charter".to_string(), text)]).diagnostics()
    });
    let codes: Vec<Code> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![Code::NestingTooDeep], "{diags:#?}");
}
