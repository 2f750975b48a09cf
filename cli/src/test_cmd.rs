//! `charter test`: run a bundle's `test` blocks through the runtime engine, report them as
//! a tree (or JSON, or JUnit XML for CI), and the rule coverage they reach.
//!
//! Exit codes: 0 every test passed (and coverage is at least `--threshold`); 1 a test
//! failed, coverage is below the threshold, or `--fail-on-empty` found no test; 2 usage,
//! I/O, or a bundle that does not compile.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::testing::{
    self, Coverage, ExpectResult, Failure, RuleLocation, TestOptions, TestReport,
};
use charter_compiler::{Compiler, Severity};
use charter_runtime::Decision;
use clap::ValueEnum;
use quick_junit::{NonSuccessKind, Report, SerializeError, TestCase, TestCaseStatus, TestSuite};
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
                match junit_compile_errors(&errors, args.dir) {
                    Ok(xml) => print!("{xml}"),
                    Err(e) => eprintln!("error: cannot print the report: {e}"),
                }
            }
            return 2;
        }
    };
    let opts = TestOptions {
        filter: args.filter.clone(),
    };
    let started = Instant::now();
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
        TestFormat::Junit => match junit(&report, args.dir, started.elapsed()) {
            Ok(xml) => xml,
            Err(e) => {
                eprintln!("error: cannot print the report: {e}");
                return 2;
            }
        },
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
    let errored = f.decision.as_ref().is_some_and(|d| !d.errors.is_empty());
    if f.decided_by.is_empty() {
        if f.decision.is_some() && !errored {
            let _ = writeln!(
                out,
                "decided by: no rule — nothing permits it, so it is denied (default deny)"
            );
        }
    } else {
        let what = if f.sweep.is_some() {
            "rules"
        } else if errored {
            "failed to evaluate"
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

/// JUnit XML: one `testsuite` per file, one `testcase` per test, the run's time on the
/// root. `classname` is the file's path in the bundle; `file` is the bundle folder as given
/// joined with it, so that reporters that annotate files find them from where `charter` ran.
/// JUnit gives a test case one `failure`: its message is the first failed expectation's,
/// its text every failed expectation in full.
fn junit(r: &TestReport, dir: &Path, time: Duration) -> Result<String, SerializeError> {
    let mut report = Report::new(format!("{} {}", r.bundle, r.version));
    report.set_time(time);
    for f in &r.files {
        let mut suite = TestSuite::new(f.file.as_str());
        let path = bundle_path(dir, &f.file);
        for t in &f.tests {
            let status = if t.passed {
                TestCaseStatus::success()
            } else {
                let failed: Vec<(&ExpectResult, &Failure)> = t
                    .expectations
                    .iter()
                    .filter(|e| !e.passed)
                    .filter_map(|e| Some((e, e.failure.as_ref()?)))
                    .collect();
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_type("expectation");
                match failed.as_slice() {
                    [] => {}
                    [(_, one)] => {
                        status.set_message(one.message.as_str());
                    }
                    [(_, first), rest @ ..] => {
                        status.set_message(format!("{} (and {} more)", first.message, rest.len()));
                    }
                }
                if !failed.is_empty() {
                    let bodies: Vec<String> = failed
                        .iter()
                        .map(|(e, fail)| {
                            format!("{}\n{}", e.statement, failure_text(fail, &t.file, e.line))
                        })
                        .collect();
                    status.set_description(bodies.join("\n"));
                }
                status
            };
            suite.add_test_case(located_case(&t.name, &f.file, &path, t.line, status));
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}

/// JUnit XML for a bundle that does not compile: one `testsuite` named `compile` with an
/// errored `testcase` per compile error, at its file and line.
fn junit_compile_errors(
    errors: &[charter_compiler::diagnostics::DiagnosticJson],
    dir: &Path,
) -> Result<String, SerializeError> {
    let mut suite = TestSuite::new("compile");
    for e in errors {
        let path = bundle_path(dir, &e.file);
        let body = match &e.help {
            Some(help) => format!("{}: {}\nhelp: {help}", e.code, e.message),
            None => format!("{}: {}", e.code, e.message),
        };
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status
            .set_message(e.message.as_str())
            .set_type(e.code.as_str())
            .set_description(body);
        let name = format!("{}:{}:{} {}", e.file, e.line, e.column, e.code);
        suite.add_test_case(located_case(&name, &e.file, &path, e.line, status));
    }
    let mut report = Report::new("compile");
    report.add_test_suite(suite);
    report.to_string()
}

/// A test case at `line` of `file` (its path in the bundle) and `path` (the same file
/// from where `charter` ran), in the attributes reporters that annotate files read.
fn located_case(
    name: &str,
    file: &str,
    path: &str,
    line: usize,
    status: TestCaseStatus,
) -> TestCase {
    let mut case = TestCase::new(name, status);
    case.set_classname(file);
    case.extra.insert("file".into(), path.into());
    case.extra.insert("line".into(), line.to_string().into());
    case
}

/// `file` of the bundle joined to the folder as given, with `/` on every platform.
fn bundle_path(dir: &Path, file: &str) -> String {
    let joined = dir.join(file).to_string_lossy().replace('\\', "/");
    joined.strip_prefix("./").unwrap_or(&joined).to_string()
}
