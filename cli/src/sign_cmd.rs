//! Signed bundles: `charter keygen`, the signature `charter build --sign` writes, and
//! `charter verify`; and the trusted keys that `decide` and `serve` take with
//! `--verify-key`.

use std::path::Path;
use std::process::Command;

use charter_runtime::{read_source, source_of, Source};
use charter_sign::keys::{self, VerifyingKey};
use charter_sign::{BundleSignature, Provenance, SIGNATURE_FILE};

/// `charter keygen --out DIR --name NAME`: a key pair for signing bundles.
pub fn keygen(dir: &Path, name: &str) -> u8 {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        eprintln!("error: `--name {name}` must be a plain file name, without `/` or a leading `.`");
        return 2;
    }
    match keys::generate_files(dir, name) {
        Ok(files) => {
            println!(
                "private key {} (mode 0600): sign with `charter build --sign`; keep it where only the release job reads it",
                files.private.display()
            );
            println!(
                "public key  {}: give it to `charter verify --key`, `charter serve --verify-key` and `charter decide --verify-key`",
                files.public.display()
            );
            println!("key id {}", files.id);
            0
        }
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            2
        }
    }
}

/// Reads the public keys of `--verify-key` / `--key`.
pub fn read_verify_keys(paths: &[std::path::PathBuf]) -> Result<Vec<VerifyingKey>, u8> {
    paths
        .iter()
        .map(|p| {
            VerifyingKey::read(p).map_err(|e| {
                eprintln!("{:?}", miette::Report::new(e));
                2
            })
        })
        .collect()
}

/// The git commit `dir` is at and whether it has uncommitted changes, when `dir` is in a
/// git work tree and git runs; `None` otherwise (a build outside git is still signed).
fn source_revision(dir: &Path) -> (Option<String>, Option<bool>) {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(revision) = git(&["rev-parse", "HEAD"]).filter(|r| !r.is_empty()) else {
        return (None, None);
    };
    let dirty = git(&["status", "--porcelain", "--", "."]).map(|s| !s.is_empty());
    (Some(revision), dirty)
}

/// The signature of a bundle just built from `src` into `out` (name, version and hash
/// from its manifest), written as `out/bundle.sig`.
pub fn sign_built(
    src: &Path,
    out: &Path,
    name: &str,
    version: &str,
    hash: &str,
    key: &charter_sign::keys::SigningKey,
) -> Result<BundleSignature, String> {
    let (source_revision, source_dirty) = source_revision(src);
    let provenance = Provenance {
        bundle: name.to_string(),
        version: version.to_string(),
        hash: hash.to_string(),
        source_revision,
        source_dirty,
        built_at: jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
        compiler: concat!("charter ", env!("CARGO_PKG_VERSION")).to_string(),
    };
    let sig = BundleSignature::sign(provenance, key);
    let path = out.join(SIGNATURE_FILE);
    std::fs::write(&path, sig.to_json())
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    Ok(sig)
}

/// `charter verify BUNDLE --key PUB…`: checks the bundle's content hash and its signature
/// against the keys, and prints who signed it and its provenance.
pub fn verify(bundle: &Path, keys: &[std::path::PathBuf]) -> u8 {
    let keys = match read_verify_keys(keys) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let file = match source_of(bundle) {
        Source::BundleFile(f) => f,
        Source::Dir(d) => {
            eprintln!(
                "error: `{}` is a source folder; only a built `bundle.json` carries a signature\n  help: build and sign it with `charter build {} --out OUT --sign KEY`",
                d.display(),
                d.display()
            );
            return 2;
        }
    };
    // Reading the bundle recomputes its content hash and refuses a file changed since
    // it was built; the signature is then checked against that hash.
    let built = match read_source(&Source::BundleFile(file.clone())) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return 1;
        }
    };
    match charter_sign::verify_bundle(&file, &built.manifest.hash, &keys) {
        Ok(sig) => {
            let p = &sig.provenance;
            println!(
                "verified {} {} ({}), signed by key {}",
                p.bundle, p.version, p.hash, sig.key_id
            );
            match (&p.source_revision, p.source_dirty) {
                (Some(r), Some(true)) => {
                    println!("built from {r} with uncommitted changes, at {}", p.built_at)
                }
                (Some(r), _) => println!("built from {r}, at {}", p.built_at),
                (None, _) => println!("built outside git, at {}", p.built_at),
            }
            println!("by {}", p.compiler);
            0
        }
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            1
        }
    }
}
