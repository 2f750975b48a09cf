//! End-to-end tests of `charter check` and `charter build` on copies of `policies/`,
//! through the built binary, as CI and policy authors run it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn charter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_charter"))
}

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A copy of `policies/` with one file edited; returns the copy and the 1-based
/// line of the edit.
fn broken_copy(file: &str, from: &str, to: &str) -> (tempfile::TempDir, usize) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&policies(), dir.path());
    let path = dir.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text
        .find(from)
        .unwrap_or_else(|| panic!("`{from}` not in {file}"));
    let line = text[..at].matches('\n').count() + 1;
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    (dir, line)
}

fn check_json(dir: &Path) -> (Output, Value) {
    let out = charter()
        .arg("check")
        .arg(dir)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out, json)
}

fn diagnostics_with_code<'a>(json: &'a Value, code: &str) -> Vec<&'a Value> {
    json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .collect()
}

#[test]
fn policies_check_clean() {
    let out = charter()
        .arg("check")
        .arg(policies())
        .arg("--deny-warnings")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, json) = check_json(&policies());
    assert_eq!(json["bundle"], "zhenjiang");
    assert_eq!(json["diagnostics"].as_array().unwrap().len(), 0);
}

#[test]
fn a_four_year_term_fails_with_file_and_line() {
    let (dir, line) = broken_copy(
        "scenarios/inclusive_finance.charter",
        "2026-01-01 .. 2028-12-31",
        "2026-01-01 .. 2029-12-31",
    );
    let (out, json) = check_json(dir.path());
    assert_eq!(out.status.code(), Some(1));
    let d = diagnostics_with_code(&json, "CH0302");
    assert_eq!(d.len(), 1, "{json:#}");
    assert_eq!(d[0]["file"], "scenarios/inclusive_finance.charter");
    assert_eq!(d[0]["line"], line);
    assert_eq!(d[0]["article"], "第八条");
    // The human output names the file and line too.
    let human = charter().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(human.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(
        stderr.contains(&format!("scenarios/inclusive_finance.charter:{line}:")),
        "{stderr}"
    );
    assert!(stderr.contains("CH0302"), "{stderr}");
}

#[test]
fn a_scope_granting_export_raw_fails() {
    let (dir, line) = broken_copy(
        "scenarios/inclusive_finance.charter",
        "} via verify, statistics, privacy_compute\n",
        "} via verify, statistics, privacy_compute, export_raw\n",
    );
    let (out, json) = check_json(dir.path());
    assert_eq!(out.status.code(), Some(1));
    let d = diagnostics_with_code(&json, "CH0301");
    assert_eq!(d.len(), 1, "{json:#}");
    assert_eq!(d[0]["file"], "scenarios/inclusive_finance.charter");
    assert_eq!(d[0]["line"], line);
    assert_eq!(d[0]["article"], "第四条");
}

#[test]
fn a_misspelled_dataset_fails_with_a_suggestion() {
    let (dir, line) = broken_copy(
        "scenarios/inclusive_finance.charter",
        "use tax.enterprise_tax {",
        "use tax.enterprise_tx {",
    );
    let (out, json) = check_json(dir.path());
    assert_eq!(out.status.code(), Some(1));
    let d = diagnostics_with_code(&json, "CH0101");
    assert_eq!(d.len(), 1, "{json:#}");
    assert_eq!(d[0]["file"], "scenarios/inclusive_finance.charter");
    assert_eq!(d[0]["line"], line);
    assert_eq!(d[0]["column"], 7);
    assert_eq!(d[0]["message"], "unknown dataset `tax.enterprise_tx`");
    assert_eq!(d[0]["help"], "did you mean `tax.enterprise_tax`?");
}

#[test]
fn a_sensitive_field_without_consent_fails() {
    let (dir, via_line) = broken_copy(
        "scenarios/inclusive_finance.charter",
        "} via statistics, privacy_compute requires consent",
        "} via statistics, privacy_compute",
    );
    let (out, json) = check_json(dir.path());
    assert_eq!(out.status.code(), Some(1));
    let d = diagnostics_with_code(&json, "CH0304");
    assert_eq!(d.len(), 1, "{json:#}");
    assert_eq!(d[0]["file"], "scenarios/inclusive_finance.charter");
    // The diagnostic points at the first protected field of that `use`, on the lines before `via`.
    let line = d[0]["line"].as_u64().unwrap() as usize;
    assert!(
        line < via_line && line + 3 > via_line,
        "line {line}, via on {via_line}"
    );
    assert_eq!(d[0]["article"], "第二十条");
}

/// `examples/bundle/bundle.json`, which the embedding example loads with the engine alone
/// (`cargo run -p charter-runtime --no-default-features --example embed`), is what
/// `charter build policies` writes today.
#[test]
fn the_committed_example_bundle_is_up_to_date() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = charter()
        .arg("build")
        .arg(policies())
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = std::fs::read_to_string(out_dir.path().join("bundle.json")).unwrap();
    let committed = std::fs::read_to_string(policies().join("../examples/bundle/bundle.json"))
        .unwrap_or_default();
    assert!(
        built == committed,
        "examples/bundle/bundle.json is stale: run `charter build policies --out examples/bundle` \
         and keep only bundle.json"
    );
}

/// `docs/diagnostics.md` is what `charter explain --all` generates from the codes'
/// documentation, every example run through the compiler: a changed message, a new code or
/// an example that no longer reports its code fails here.
#[test]
fn the_diagnostics_reference_is_generated() {
    let out = charter().args(["explain", "--all"]).output().unwrap();
    assert!(
        out.status.success(),
        "charter explain --all failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed =
        std::fs::read_to_string(policies().join("../docs/diagnostics.md")).unwrap_or_default();
    if generated != committed {
        let first = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(generated.lines().count().min(committed.lines().count()));
        panic!(
            "docs/diagnostics.md is stale (first difference on line {}): run \
             `cargo run -p charter-cli -- explain --all > docs/diagnostics.md`",
            first + 1
        );
    }
}

/// `charter explain CODE` prints one code's section with its example's output; an unknown
/// code is a usage error.
#[test]
fn explain_prints_one_code() {
    let out = charter()
        .args(["explain", "consent-required"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("## CH0304 `consent-required`"), "{text}");
    assert!(
        text.contains("snippet.charter:5:41  error CH0304 consent-required"),
        "{text}"
    );
    let out = charter().args(["explain", "CH9999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown diagnostic code `CH9999`"));
}

#[test]
fn build_writes_the_four_files() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = charter()
        .arg("build")
        .arg(policies())
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "bundle.json",
        "policies.cedar",
        "schema.cedarschema",
        "entities.json",
    ] {
        let p = out_dir.path().join(f);
        assert!(p.is_file(), "{f} missing");
        assert!(std::fs::metadata(&p).unwrap().len() > 100, "{f} too small");
    }
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.path().join("bundle.json")).unwrap())
            .unwrap();
    assert_eq!(bundle["format"], charter_compiler::lower::BUNDLE_FORMAT);
    assert!(bundle["manifest"]["hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let cedar = std::fs::read_to_string(out_dir.path().join("policies.cedar")).unwrap();
    assert!(cedar.contains("@id(\"forbid/原始数据不出域\")"));
    // Cedar's own parser and strict validator accept what was written.
    let schema = cedar_policy::Schema::from_cedarschema_str(
        &std::fs::read_to_string(out_dir.path().join("schema.cedarschema")).unwrap(),
    )
    .unwrap()
    .0;
    let set: cedar_policy::PolicySet = cedar.parse().unwrap();
    let result =
        cedar_policy::Validator::new(schema).validate(&set, cedar_policy::ValidationMode::Strict);
    assert!(result.validation_passed(), "{result}");
}

#[test]
fn usage_problems_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = charter().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no charter.toml"));
    let out = charter()
        .args(["check", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn warnings_fail_only_under_deny_warnings() {
    let (dir, _) = broken_copy(
        "exit.charter",
        "  measures terminate, revoke, delist, destroy\n",
        "",
    );
    let (out, json) = check_json(dir.path());
    assert_eq!(out.status.code(), Some(0), "{json:#}");
    assert_eq!(diagnostics_with_code(&json, "CH0307").len(), 1);
    let strict = charter()
        .arg("check")
        .arg(dir.path())
        .arg("--deny-warnings")
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(1));
}

/// Runs a command, killing it (and failing) if it has not finished in 120 s: a test of
/// "does not block" must not hang the suite when it fails. Output goes to files, not
/// pipes: nobody reads a pipe while we wait, and a full one would block the child.
fn run_bounded(cmd: &mut Command) -> Output {
    use std::time::{Duration, Instant};
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut child = cmd
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

#[cfg(unix)]
#[test]
fn links_fifos_and_loops_in_a_bundle_are_skipped_with_a_warning() {
    const SECRET: &str = "SECRET-FIRST-LINE-c41d";
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.charter");
    std::fs::write(&secret, format!("{SECRET} bogus\n")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&policies(), dir.path());
    let link = |target: &Path, name: &str| {
        std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap();
    };
    link(&secret, "leak.charter");
    link(Path::new(".."), "scenarios/up");
    link(Path::new("/"), "root");
    let made = Command::new("mkfifo")
        .arg(dir.path().join("pipe.charter"))
        .status()
        .unwrap();
    assert!(made.success());

    let (out, json) = check_json(dir.path());
    assert_eq!(out.status.code(), Some(0), "{json:#}");
    let skipped = diagnostics_with_code(&json, "CH0005");
    let messages: Vec<&str> = skipped
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "skipped `leak.charter`: it is a symbolic link",
            "skipped `pipe.charter`: it is a named pipe (FIFO)",
            "skipped `root`: it is a symbolic link",
            "skipped `scenarios/up`: it is a symbolic link",
        ],
        "{json:#}"
    );
    assert!(skipped.iter().all(|d| d["severity"] == "warning"));

    for args in [
        vec!["check"],
        vec!["check", "--format", "sarif"],
        vec!["check", "--format", "github"],
        vec!["check", "--deny-warnings"],
    ] {
        let out = run_bounded(charter().args(&args).arg(dir.path()));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(SECRET), "{args:?} leaked the target: {all}");
        assert!(all.contains("leak.charter"), "{args:?}: {all}");
    }
    let strict = run_bounded(charter().args(["check", "--deny-warnings"]).arg(dir.path()));
    assert_eq!(strict.status.code(), Some(1));

    let built = tempfile::tempdir().unwrap();
    let out = run_bounded(
        charter()
            .arg("build")
            .arg(dir.path())
            .arg("--out")
            .arg(built.path()),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(SECRET));

    let out = run_bounded(charter().args(["fmt", "--check"]).arg(dir.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert!(stderr.contains("pipe.charter"), "{stderr}");
}

#[test]
fn an_error_past_column_65535_renders() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&policies(), dir.path());
    // A 70,000-column line whose syntax error is at its end, and a duplicate declaration
    // (whose first declaration is in another file) at the end of another long line.
    let pad = " ".repeat(70_000);
    let long = format!("{pad}bogus here\n{pad}domain 住房 \"又一个\"\n");
    std::fs::write(dir.path().join("long.charter"), &long).unwrap();
    let out = run_bounded(charter().arg("check").arg(dir.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CH0001"), "{stderr}");
    assert!(stderr.contains("long.charter:1:70001"), "{stderr}");
    assert!(stderr.contains("bogus"), "{stderr}");
    assert!(stderr.contains("CH0102"), "{stderr}");
    assert!(stderr.contains("long.charter:2:70008"), "{stderr}");
    assert!(stderr.contains('…'), "the line is cut: {stderr}");
    assert!(
        stderr.len() < 20_000,
        "the report copies the line: {}",
        stderr.len()
    );

    let built = tempfile::tempdir().unwrap();
    let out = run_bounded(
        charter()
            .arg("build")
            .arg(dir.path())
            .arg("--out")
            .arg(built.path()),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CH0001"), "{stderr}");

    let out = run_bounded(
        charter()
            .args(["fmt", "--check"])
            .arg(dir.path().join("long.charter")),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("syntax error"), "{stderr}");
    assert!(stderr.contains("70001"), "{stderr}");
}

/// The inputs of `tests/scale/gen.sh` (the release measurement of issue 10 uses 40,000
/// duplicates and 20,000 fields) at a size a debug build checks quickly: correctness only,
/// the timing is measured in release.
#[test]
fn many_duplicates_and_a_scope_of_20000_fields_check_and_build() {
    let dir = tempfile::tempdir().unwrap();
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scale/gen.sh");
    let made = Command::new("sh")
        .arg(gen)
        .arg(dir.path())
        .args(["2000", "20000"])
        .status()
        .unwrap();
    assert!(made.success());

    let dups = dir.path().join("duplicates");
    let (out, json) = check_json(&dups);
    assert_eq!(out.status.code(), Some(1));
    let twice: Vec<&Value> = diagnostics_with_code(&json, "CH0102")
        .into_iter()
        .filter(|d| d["message"] == "dataset `dup.same` is declared twice")
        .collect();
    assert_eq!(twice.len(), 1999);
    // Each points at its own declaration and at the first one.
    for (i, d) in twice.iter().enumerate() {
        assert_eq!(d["line"], 5 * (i + 1) + 1, "{d:#}");
        assert_eq!(d["related"][0]["line"], 1, "{d:#}");
    }
    let human = run_bounded(charter().arg("check").arg(&dups));
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert_eq!(human.status.code(), Some(1));
    assert!(
        stderr.contains("datasets.charter:9996:9"),
        "{}",
        &stderr[stderr.len().saturating_sub(3000)..]
    );
    assert_eq!(
        stderr
            .matches("dataset `dup.same` is declared twice")
            .count(),
        1999
    );

    let scope = dir.path().join("scope");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run_bounded(
        charter()
            .arg("build")
            .arg(&scope)
            .arg("--out")
            .arg(out_dir.path()),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.path().join("bundle.json")).unwrap())
            .unwrap();
    let scope_policy = bundle["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "scenario/宽表统计/use/1")
        .unwrap();
    let fields = scope_policy["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 20_000);
    assert_eq!(fields[19_999], "f20000");
    let cedar = std::fs::read_to_string(out_dir.path().join("policies.cedar")).unwrap();
    assert!(cedar.contains("big.wide/f20000"));
    let set: cedar_policy::PolicySet = cedar.parse().unwrap();
    assert!(set.policies().count() >= 3);
}
