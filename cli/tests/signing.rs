//! Signed bundles through the commands a release job and a platform run: `charter keygen`,
//! `charter build --sign`, `charter verify`, and the engine that `serve` and `decide`
//! load with `--verify-key`: a bundle altered after signing, an unsigned bundle and a
//! bundle signed by an unknown key are refused at start and on reload, and the last good
//! bundle keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use charter_runtime::{Engine, EngineOptions, ReloadEvent};
use charter_sign::keys::VerifyingKey;

mod common;
use common::http;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn charter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_charter"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A key pair `DIR/NAME.key`, `DIR/NAME.pub`.
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let o = charter(&["keygen", "--out", s(dir), "--name", name]);
    assert!(o.status.success(), "{}", text(&o));
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// `charter build SRC --out OUT [--sign KEY]`.
fn build(src: &Path, out: &Path, key: Option<&Path>) {
    let mut args = vec!["build", s(src), "--out", s(out)];
    if let Some(k) = key {
        args.extend(["--sign", s(k)]);
    }
    let o = charter(&args);
    assert!(o.status.success(), "{}", text(&o));
}

/// A copy of `policies/` with one title changed, so it builds to another hash.
fn changed_policies(dir: &Path) -> PathBuf {
    let copy = dir.join("changed-src");
    copy_dir(&root().join("policies"), &copy);
    let file = copy.join("exit.charter");
    let t = std::fs::read_to_string(&file).unwrap();
    let changed = t.replacen("\"授权协议期满\"", "\"授权协议已期满\"", 1);
    assert_ne!(t, changed, "the title to change is in exit.charter");
    std::fs::write(&file, changed).unwrap();
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn engine_with(path: &Path, key: &Path) -> Result<Engine, String> {
    let options = EngineOptions {
        verify_keys: vec![VerifyingKey::read(key).unwrap()],
        ..Default::default()
    };
    Engine::load_with(path, &options).map_err(|e| e.to_string())
}

#[test]
fn a_signed_bundle_verifies_and_a_tampered_unsigned_or_foreign_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "release");
    let (_other_key, other_public) = keygen(dir.path(), "other");
    let signed = dir.path().join("signed");
    build(&root().join("policies"), &signed, Some(&key));
    assert!(signed.join("bundle.sig").is_file());

    // Verified, with its provenance: the revision this repository is at.
    let o = charter(&["verify", s(&signed), "--key", s(&public)]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("verified zhenjiang 0.1.0"), "{out}");
    assert!(out.contains("signed by key"), "{out}");

    // A key that is not the signer's.
    let o = charter(&["verify", s(&signed), "--key", s(&other_public)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not a trusted key"), "{}", text(&o));

    // Another bundle under the first one's signature: built, then the signature swapped.
    let other = dir.path().join("other");
    build(&changed_policies(dir.path()), &other, None);
    assert!(!other.join("bundle.sig").exists());
    let o = charter(&["verify", s(&other), "--key", s(&public)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("is not signed"), "{}", text(&o));
    std::fs::copy(signed.join("bundle.sig"), other.join("bundle.sig")).unwrap();
    let o = charter(&["verify", s(&other), "--key", s(&public)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("changed after it was signed"),
        "{}",
        text(&o)
    );

    // bundle.json edited by hand after signing: its own hash no longer matches.
    let edited = dir.path().join("edited");
    build(&root().join("policies"), &edited, Some(&key));
    let b = edited.join("bundle.json");
    let t = std::fs::read_to_string(&b).unwrap();
    std::fs::write(&b, t.replacen("授权协议期满", "授权协议已期满", 1)).unwrap();
    let o = charter(&["verify", s(&edited), "--key", s(&public)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // A source folder carries no signature.
    let o = charter(&["verify", "policies", "--key", s(&public)]);
    assert_eq!(o.status.code(), Some(2));

    // An unsigned rebuild removes the signature of the earlier build.
    build(&root().join("policies"), &signed, None);
    assert!(!signed.join("bundle.sig").exists());
}

#[test]
fn an_engine_with_keys_refuses_bad_bundles_at_start_and_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "release");
    let (other_key, _) = keygen(dir.path(), "other");
    let serving = dir.path().join("serving");
    build(&root().join("policies"), &serving, Some(&key));

    // At start: a source folder, an unsigned and a foreign-signed bundle are refused.
    let e = engine_with(&root().join("policies"), &public).unwrap_err();
    assert!(e.contains("is not signed"), "{e}");
    let unsigned = dir.path().join("unsigned");
    build(&root().join("policies"), &unsigned, None);
    assert!(engine_with(&unsigned, &public)
        .unwrap_err()
        .contains("is not signed"));
    let foreign = dir.path().join("foreign");
    build(&root().join("policies"), &foreign, Some(&other_key));
    assert!(engine_with(&foreign, &public)
        .unwrap_err()
        .contains("not a trusted key"));

    // The signed one loads and names its signer.
    let engine = engine_with(&serving, &public).unwrap();
    let signer = engine.status().bundle.signer.clone();
    assert_eq!(
        signer.as_deref(),
        Some(VerifyingKey::read(&public).unwrap().id())
    );
    let good = engine.hash();

    // On reload: each bad replacement is refused and the signed bundle keeps serving.
    let changed = changed_policies(dir.path());
    let replacements: [(&str, Option<&Path>); 2] = [
        ("is not signed", None),
        ("not a trusted key", Some(&other_key)),
    ];
    for (error, signer) in replacements {
        build(&changed, &serving, signer);
        match engine.reload().unwrap() {
            ReloadEvent::Failed { error: e } => assert!(e.contains(error), "{e}"),
            other => panic!("reloaded {other:?}"),
        }
        assert_eq!(engine.hash(), good);
    }
    // Altered after signing: a new bundle.json under the old signature.
    build(&root().join("policies"), &serving, Some(&key));
    let sig = std::fs::read(serving.join("bundle.sig")).unwrap();
    build(&changed, &serving, None);
    std::fs::write(serving.join("bundle.sig"), sig).unwrap();
    match engine.reload().unwrap() {
        ReloadEvent::Failed { error } => {
            assert!(error.contains("changed after it was signed"), "{error}")
        }
        other => panic!("reloaded {other:?}"),
    }
    assert_eq!(engine.hash(), good);
    assert!(engine.status().last_error.is_some());

    // A good signed replacement is taken.
    build(&changed, &serving, Some(&key));
    assert!(matches!(
        engine.reload().unwrap(),
        ReloadEvent::Reloaded { .. }
    ));
    assert_ne!(engine.hash(), good);
}

#[test]
fn serve_with_a_key_refuses_an_unsigned_bundle_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = keygen(dir.path(), "release");
    let unsigned = dir.path().join("unsigned");
    build(&root().join("policies"), &unsigned, None);
    let o = charter(&[
        "serve",
        s(&unsigned),
        "--listen",
        "127.0.0.1:0",
        "--no-log",
        "--verify-key",
        s(&public),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is not signed"), "{}", text(&o));
    let o = charter(&[
        "decide",
        "--bundle",
        s(&unsigned),
        "--verify-key",
        s(&public),
        "examples/requests/01_allow_scope.json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn serve_with_a_key_names_the_signer_in_status_metrics_and_decisions() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "release");
    let id = VerifyingKey::read(&public).unwrap().id().to_string();
    let signed = dir.path().join("signed");
    build(&root().join("policies"), &signed, Some(&key));
    let mut child = Command::new(env!("CARGO_BIN_EXE_charter"))
        .current_dir(root())
        .args(["serve", s(&signed), "--listen", "127.0.0.1:0", "--no-log"])
        .args([
            "--facts",
            "examples/requests/facts.json",
            "--verify-key",
            s(&public),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut addr = None;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let addr = addr.expect("the server did not start");
    let (status, body) = http(&addr, "GET", "/v1/bundle", &[], "");
    assert_eq!(status, 200, "{body}");
    let bundle: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(bundle["signer"], id.as_str(), "{bundle}");
    let (_, metrics) = http(&addr, "GET", "/metrics", &[], "");
    assert!(
        metrics.contains(&format!("signer=\"{id}\"")),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("bundle_info"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The facts come from the store (`--facts`), not the request.
    let mut request: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/requests/01_allow_scope.json")).unwrap(),
    )
    .unwrap();
    request.as_object_mut().unwrap().remove("facts");
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/decide",
        &[("content-type", "application/json")],
        &request.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let decision: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(decision["bundle"]["signer"], id.as_str(), "{decision}");
    child.kill().unwrap();
    let _ = child.wait();
}
