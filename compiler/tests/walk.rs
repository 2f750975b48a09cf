//! The bundle walk through the compiler's public API: links are skipped, never followed;
//! FIFOs are skipped, never opened; loops end; the limits hold.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use charter_compiler::walk::{self, Limits, SkipKind, WalkError};
use charter_compiler::{Compiler, LoadError, Severity};

const SECRET: &str = "SECRET-FIRST-LINE-7f3a";

fn bundle() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("charter.toml"),
        "[bundle]\nname = \"walk\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a.charter"), "domain 住房 \"住房\"\n").unwrap();
    dir
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `f` on another thread and fails (instead of hanging) if it takes over 30 s.
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the walk blocked")
}

/// Every rendering of every diagnostic, as the CLI prints them.
fn rendered(c: &Compiler) -> String {
    let sources = c.sources();
    let mut out = String::new();
    for d in c.diagnostics() {
        out.push_str(&format!("{:?}\n", d.to_report(&sources)));
        out.push_str(&serde_json::to_string(&d.to_json(&sources)).unwrap());
    }
    out
}

#[test]
fn a_link_to_a_file_outside_is_skipped_and_never_read() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, format!("{SECRET}\nmore\n")).unwrap();
    let b = bundle();
    std::os::unix::fs::symlink(&secret, b.path().join("leak.charter")).unwrap();
    let c = Compiler::load_dir(b.path()).unwrap();
    assert!(c.file("leak.charter").is_none());
    let warnings: Vec<_> = c
        .diagnostics()
        .into_iter()
        .filter(|d| d.code.id() == "CH0005")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert!(warnings[0].message.contains("`leak.charter`"));
    assert!(warnings[0].message.contains("symbolic link"));
    let text = rendered(&c);
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        !text.contains("secret.txt"),
        "the link's target is not shown: {text}"
    );
}

#[test]
fn a_fifo_is_skipped_without_being_opened() {
    let b = bundle();
    mkfifo(&b.path().join("pipe.charter"));
    let root = b.path().to_path_buf();
    let c = within(move || Compiler::load_dir(&root).map(|c| rendered(&c)));
    let text = c.unwrap();
    assert!(text.contains("skipped `pipe.charter`"), "{text}");
    assert!(text.contains("FIFO"), "{text}");
    // Read directly (as if it appeared after the listing), it is refused, not waited on.
    let pipe = b.path().join("pipe.charter");
    let err = within(move || walk::read_regular(&pipe, 1024)).unwrap_err();
    assert!(
        matches!(
            err,
            WalkError::NotRegular {
                kind: SkipKind::Fifo,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn link_loops_end() {
    let b = bundle();
    let sub = b.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
    std::os::unix::fs::symlink("..", sub.join("up2")).unwrap();
    std::os::unix::fs::symlink("/", b.path().join("root")).unwrap();
    std::os::unix::fs::symlink("loop.charter", b.path().join("loop.charter")).unwrap();
    std::fs::write(sub.join("b.charter"), "domain 能源x \"x\"\n").unwrap();
    let root = b.path().to_path_buf();
    let listing = within(move || walk::list(&root, &Limits::default())).unwrap();
    let files: Vec<&str> = listing.files.iter().map(|e| e.rel.as_str()).collect();
    assert_eq!(files, ["a.charter", "sub/b.charter"]);
    let skipped: Vec<&str> = listing.skipped.iter().map(|s| s.rel.as_str()).collect();
    assert_eq!(skipped, ["loop.charter", "root", "sub/up", "sub/up2"]);
    assert!(listing.skipped.iter().all(|s| s.kind == SkipKind::Symlink));
}

#[test]
fn a_linked_manifest_is_refused() {
    let b = bundle();
    let real = b.path().join("real.toml");
    std::fs::rename(b.path().join("charter.toml"), &real).unwrap();
    std::os::unix::fs::symlink(&real, b.path().join("charter.toml")).unwrap();
    match Compiler::load_dir(b.path()) {
        Err(LoadError::Walk(WalkError::NotRegular {
            kind: SkipKind::Symlink,
            ..
        })) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a linked charter.toml was followed"),
    }
}

#[test]
fn limits_hold_and_name_the_place() {
    let b = bundle();
    let deep = b.path().join("x/y/z");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("c.charter"), "").unwrap();
    let tight = |f: fn(&mut Limits)| {
        let mut l = Limits::default();
        f(&mut l);
        Compiler::load_dir_with(b.path(), &l)
            .err()
            .map(|e| e.to_string())
    };
    let deep_err = tight(|l| l.max_depth = 2).unwrap();
    assert!(
        deep_err.contains("x/y/z") && deep_err.contains('2'),
        "{deep_err}"
    );
    assert!(tight(|l| l.max_depth = 3).is_none());
    let many = tight(|l| l.max_files = 1).unwrap();
    assert!(many.contains("more than 1 .charter files"), "{many}");
    let big = tight(|l| l.max_file_bytes = 8).unwrap();
    assert!(big.contains("larger than 8 bytes"), "{big}");
    let total = tight(|l| l.max_total_bytes = 40).unwrap();
    assert!(total.contains("larger together than 40 bytes"), "{total}");
}

#[test]
fn the_order_is_by_path() {
    let b = bundle();
    for name in ["z.charter", "m/b.charter", "m/a.charter", "b.charter"] {
        let p = b.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }
    std::fs::create_dir_all(b.path().join(".hidden")).unwrap();
    std::fs::write(b.path().join(".hidden/h.charter"), "").unwrap();
    std::fs::create_dir_all(b.path().join("target")).unwrap();
    std::fs::write(b.path().join("target/t.charter"), "").unwrap();
    let listing = walk::list(b.path(), &Limits::default()).unwrap();
    let files: Vec<&str> = listing.files.iter().map(|e| e.rel.as_str()).collect();
    assert_eq!(
        files,
        [
            "a.charter",
            "b.charter",
            "m/a.charter",
            "m/b.charter",
            "z.charter"
        ]
    );
}
