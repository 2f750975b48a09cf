//! `charter test`: run a bundle's `test` blocks through the runtime engine, report them as
//! a tree (or JSON, or JUnit XML for CI), and the rule coverage they reach.
//!
//! Exit codes: 0 every test passed (and coverage is at least `--threshold`); 1 a test
//! failed, coverage is below the threshold, or `--fail-on-empty` found no test; 2 usage,
//! I/O, or a bundle that does not compile.

use std::fmt::Write as _;
use std::path::Path;

use crate::testing::{self, Coverage, Failure, RuleLocation, TestOptions, TestReport};
use charter_compiler::{Compiler, Severity};
use charter_runtime::Decision;
use clap::ValueEnum;
use serde::Serialize;

/// Output formats of `charter test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// A tree of files and tests; failures in full.
    Human,
    /// One JSON document.
    Json,
    /// JUnit XML, which CI systems show as test results.
    Junit,
}

/// What `charter test` was asked.
pub struct TestArgs<'a> {
    /// The bundle folder.
    pub dir: &'a Path,
    /// Output format.
    pub format: TestFormat,
    /// Only tests whose name or file contains this.
    pub filter: Option<String>,
    /// Report rule coverage.
    pub coverage: bool,
    /// Fail below this coverage, in percent.
    pub threshold: Option<f64>,
    /// Fail when there is no test.
    pub fail_on_empty: bool,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    bundle: &'a str,
    version: &'a str,
    total: usize,
    passed: usize,
    failed: usize,
    filtered_out: usize,
    files: &'a [testing::FileResult],
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<&'a Coverage>,
}

/// `charter test`.
pub fn test(args: &TestArgs<'_>) -> u8 {
    if let Some(t) = args.threshold {
        if !(0.0..=100.0).contains(&t) {
            eprintln!("error: `--threshold {t}` is not a percentage between 0 and 100");
            return 2;
        }
    }
    let compiler = match Compiler::load_dir(args.dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return 2;
        }
    };
    let bundle = match compiler.build() {
        Ok((b, _)) => b,
        Err(diags) => {
            let sources = compiler.sources();
            let errors: Vec<_> = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            for d in &errors {
                eprintln!("{:?}", d.to_report(&sources));
            }
            eprintln!(
                "error: the bundle does not compile ({} error(s)), so its tests cannot run",
                errors.len()
            );
            // A JUnit reporter given an empty file fails on it and hides why; it gets
            // the compile errors as errored test cases instead.
            if matches!(args.format, TestFormat::Junit) {
                let errors: Vec<_> = errors.iter().map(|d| d.to_json(&sources)).collect();
                print!("{}", junit_compile_errors(&errors, args.dir));
            }
            return 2;
        }
    };
    let opts = TestOptions {
        filter: args.filter.clone(),
    };
    let report = match testing::run(&compiler, &bundle, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return 2;
        }
    };
    let show_coverage = args.coverage || args.threshold.is_some();
    let text = match args.format {
        TestFormat::Human => human(&report, show_coverage),
        TestFormat::Json => {
            let j = JsonReport {
                bundle: &report.bundle,
                version: &report.version,
                total: report.total(),
                passed: report.passed,
                failed: report.failed,
                filtered_out: report.filtered_out,
                files: &report.files,
                coverage: show_coverage.then_some(&report.coverage),
            };
            match serde_json::to_string_pretty(&j) {
                Ok(s) => s + "\n",
                Err(e) => {
                    eprintln!("error: cannot print the report: {e}");
                    return 2;
                }
            }
        }
        TestFormat::Junit => junit(&report, args.dir),
    };
    print!("{text}");
    let mut code = if report.failed > 0 { 1 } else { 0 };
    if report.total() == 0 {
        let why = if report.filtered_out > 0 {
            format!(
                "no test matches the filter ({} filtered out)",
                report.filtered_out
            )
        } else {
            format!("bundle `{}` has no tests", report.bundle)
        };
        if args.fail_on_empty {
            eprintln!("error: {why}");
            code = 1;
        } else {
            eprintln!("warning: {why}");
        }
    }
    if let Some(t) = args.threshold {
        let got = report.coverage.percent;
        if got + 1e-9 < t {
            eprintln!(
                "error: rule coverage {got:.1}% is below the threshold of {t}% ({} of {} rules not exercised)",
                report.coverage.total - report.coverage.covered,
                report.coverage.total
            );
            code = 1;
        }
    }
    code
}

fn human(r: &TestReport, coverage: bool) -> String {
    let mut out = String::new();
    let files = r.files.len();
    let _ = writeln!(
        out,
        "{} {}: {} test(s) in {files} file(s)",
        r.bundle,
        r.version,
        r.total()
    );
    for f in &r.files {
        let _ = writeln!(out, "\n{}", f.file);
        for t in &f.tests {
            let mark = if t.passed { "✓" } else { "✗" };
            let _ = writeln!(out, "  {mark} {}", t.name);
            if t.passed {
                continue;
            }
            for e in &t.expectations {
                let mark = if e.passed { "✓" } else { "✗" };
                let _ = writeln!(out, "    {mark} {}", e.statement);
                if let Some(fail) = &e.failure {
                    for line in failure_text(fail, &t.file, e.line).lines() {
                        let _ = writeln!(out, "        {line}");
                    }
                }
            }
        }
    }
    if coverage {
        let c = &r.coverage;
        let _ = writeln!(
            out,
            "\nrule coverage: {} of {} rules exercised ({:.1}%)",
            c.covered, c.total, c.percent
        );
        for rule in &c.rules {
            let mark = if rule.covered { "✓" } else { "✗" };
            let by = match rule.tests.len() {
                0 => "not exercised by any test".to_string(),
                1 => "1 test".to_string(),
                n => format!("{n} tests"),
            };
            let _ = writeln!(
                out,
                "  {mark} {} ({}) {}: {by}",
                rule.rule.id, rule.rule.kind, rule.rule.source
            );
        }
    }
    let _ = writeln!(out);
    if r.filtered_out > 0 {
        let _ = writeln!(out, "{} filtered out", r.filtered_out);
    }
    let _ = writeln!(out, "{} passed, {} failed", r.passed, r.failed);
    out
}

/// A failure in full: where, what was asked, what was answered, and the rules behind it
/// with their source lines.
fn failure_text(f: &Failure, file: &str, line: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "at {file}:{line}: {}", f.message);
    if let Some(q) = &f.request {
        let fields = if q.fields.is_empty() {
            String::from("{ * }")
        } else {
            format!("{{ {} }}", q.fields.join(", "))
        };
        let consent = match &q.consent {
            Some(c) => match &c.reference {
                Some(r) => format!(" with consent \"{r}\""),
                None => " with consent".to_string(),
            },
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "request:  `{}` asks {} {} {fields} in {}{consent} at {}",
            q.developer,
            q.action,
            q.dataset,
            q.scenario,
            q.at.as_deref().unwrap_or("now")
        );
    }
    if let Some(d) = &f.decision {
        decision_text(&mut out, d);
    }
    if let Some(s) = &f.sweep {
        let fired: Vec<String> = s
            .triggers
            .iter()
            .chain(&s.notices)
            .map(|r| format!("{} `{}`", r.kind, r.rule))
            .collect();
        let _ = writeln!(
            out,
            "sweep:    `{}` on {}: {}",
            s.developer,
            s.day,
            if fired.is_empty() {
                "nothing fired".to_string()
            } else {
                format!("fired {}", fired.join(", "))
            }
        );
        for e in &s.errors {
            let _ = writeln!(out, "  error: {}", e.message);
        }
    }
    if f.decided_by.is_empty() {
        if f.decision.is_some() {
            let _ = writeln!(
                out,
                "decided by: no rule — nothing permits it, so it is denied (default deny)"
            );
        }
    } else {
        let what = if f.sweep.is_some() {
            "rules"
        } else {
            "decided by"
        };
        let _ = writeln!(out, "{what}:");
        for r in &f.decided_by {
            rule_text(&mut out, r);
        }
    }
    out
}

fn decision_text(out: &mut String, d: &Decision) {
    let _ = writeln!(out, "decision: {}", d.decision.as_str());
    for f in &d.fields {
        let grade = f
            .grade
            .as_deref()
            .map(|g| format!(" ({g})"))
            .unwrap_or_default();
        let reasons: Vec<&str> = f.reasons.iter().map(|r| &*r.id).collect();
        let why = if reasons.is_empty() {
            String::new()
        } else {
            format!(" by {}", reasons.join(", "))
        };
        let _ = writeln!(out, "  {}{grade}: {}{why}", f.field, f.decision.as_str());
        for w in &f.why_not {
            let _ = writeln!(out, "    {}", w.message);
        }
    }
    for n in &d.notices {
        let _ = writeln!(out, "  notice `{}` ({})", n.rule, n.source);
    }
    for e in &d.errors {
        let _ = writeln!(out, "  error: {}", e.message);
    }
}

fn rule_text(out: &mut String, r: &RuleLocation) {
    let mut about = vec![r.kind.clone()];
    if let Some(t) = &r.title {
        about.push(format!("「{t}」"));
    }
    if let Some(a) = &r.article {
        about.push(a.clone());
    }
    let _ = writeln!(out, "  {} ({}) at {}", r.id, about.join(" "), r.source);
    if let Some(text) = &r.line_text {
        let line = r.source.rsplit(':').nth(1).unwrap_or("").to_string();
        let _ = writeln!(out, "    {line} │ {text}");
    }
}

/// JUnit XML: one `testsuite` per file, one `testcase` per test. `classname` is the file's
/// path in the bundle; `file` is the bundle folder as given joined with it, so that
/// reporters that annotate files find them from where `charter` ran.
fn junit(r: &TestReport, dir: &Path) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">",
        xml(&format!("{} {}", r.bundle, r.version)),
        r.total(),
        r.failed
    );
    for f in &r.files {
        let failures = f.tests.iter().filter(|t| !t.passed).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
            xml(&f.file),
            f.tests.len()
        );
        let joined = dir.join(&f.file).to_string_lossy().replace('\\', "/");
        let path = joined.strip_prefix("./").unwrap_or(&joined);
        for t in &f.tests {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"",
                xml(&t.name),
                xml(&f.file),
                xml(path),
                t.line
            );
            if t.passed {
                let _ = writeln!(out, "/>");
                continue;
            }
            let _ = writeln!(out, ">");
            for e in t.expectations.iter().filter(|e| !e.passed) {
                let Some(fail) = &e.failure else { continue };
                let body = format!("{}\n{}", e.statement, failure_text(fail, &t.file, e.line));
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"expectation\">{}</failure>",
                    xml(&fail.message),
                    xml(&body)
                );
            }
            let _ = writeln!(out, "    </testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

/// JUnit XML for a bundle that does not compile: one `testsuite` named `compile` with an
/// errored `testcase` per compile error, at its file and line.
fn junit_compile_errors(
    errors: &[charter_compiler::diagnostics::DiagnosticJson],
    dir: &Path,
) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"compile\" tests=\"{n}\" failures=\"0\" errors=\"{n}\" skipped=\"0\">",
        n = errors.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"compile\" tests=\"{n}\" failures=\"0\" errors=\"{n}\" skipped=\"0\">",
        n = errors.len()
    );
    for e in errors {
        let joined = dir.join(&e.file).to_string_lossy().replace('\\', "/");
        let path = joined.strip_prefix("./").unwrap_or(&joined);
        let _ = writeln!(
            out,
            "    <testcase name=\"{}:{}:{} {}\" classname=\"{}\" file=\"{}\" line=\"{}\">",
            xml(&e.file),
            e.line,
            e.column,
            xml(&e.code),
            xml(&e.file),
            xml(path),
            e.line
        );
        let body = match &e.help {
            Some(help) => format!("{}: {}\nhelp: {help}", e.code, e.message),
            None => format!("{}: {}", e.code, e.message),
        };
        let _ = writeln!(
            out,
            "      <error message=\"{}\" type=\"{}\">{}</error>",
            xml(&e.message),
            xml(&e.code),
            xml(&body)
        );
        let _ = writeln!(out, "    </testcase>");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}
