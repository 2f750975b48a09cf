//! Signing for Charter: Ed25519 keys in files ([`keys`]) and the detached signature of a
//! built bundle ([`BundleSignature`]), so that the platform loads only the bundle the
//! bureau approved and can say who built it, from what.
//!
//! A signature is a small JSON file beside `bundle.json` (`bundle.sig`): the bundle's
//! provenance (name, version, canonical content hash, source revision, build time,
//! compiler) and an Ed25519 signature over the RFC 8785 canonical bytes of that
//! provenance, with a fixed domain prefix. It signs the content hash, which covers every
//! byte the runtime uses, so a bundle changed after signing no longer matches it.

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

pub mod keys;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use keys::{SigningKey, VerifyingKey};

/// The format of a signature file; a verifier refuses any other.
pub const SIGNATURE_FORMAT: &str = "charter-signature/1";

/// The file name of a bundle's signature, beside its `bundle.json`.
pub const SIGNATURE_FILE: &str = "bundle.sig";

/// The largest signature file read: a few hundred bytes of JSON, so anything larger is
/// not a signature and is refused before it is read whole.
pub const MAX_SIGNATURE_FILE: u64 = 64 * 1024;

/// What a signature vouches for: which bundle, built from what, when and by what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The bundle's name (`charter.toml`).
    pub bundle: String,
    /// Its version (`charter.toml`).
    pub version: String,
    /// Its canonical content hash (`sha256:…`), as in the manifest of `bundle.json`.
    pub hash: String,
    /// The source revision it was built from (a git commit), when known.
    pub source_revision: Option<String>,
    /// Whether the source had uncommitted changes when it was built, when known.
    pub source_dirty: Option<bool>,
    /// When it was built (RFC 3339, UTC).
    pub built_at: String,
    /// The compiler that built it (`charter 0.1.0`).
    pub compiler: String,
}

/// A bundle's detached signature, as `bundle.sig` holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSignature {
    /// [`SIGNATURE_FORMAT`].
    pub format: String,
    /// What is signed.
    pub provenance: Provenance,
    /// The id of the key that signed (see [`keys`]).
    pub key_id: String,
    /// The Ed25519 signature, lowercase hex.
    pub signature: String,
}

/// Why a bundle's signature does not verify.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SignatureError {
    /// No signature beside the bundle.
    #[error("`{}` is not signed: there is no `{}` beside it", bundle.display(), SIGNATURE_FILE)]
    #[diagnostic(
        code(charter::signature::unsigned),
        help("sign it when building: `charter build DIR --out OUT --sign KEY`")
    )]
    Unsigned {
        /// The bundle.
        bundle: PathBuf,
    },
    /// The signature file cannot be read or is not a signature.
    #[error("cannot read the signature `{}`: {message}", path.display())]
    #[diagnostic(code(charter::signature::unreadable))]
    Unreadable {
        /// The signature file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A key that none of the trusted keys is.
    #[error("`{}` is signed by key `{key_id}`, which is not a trusted key (trusted: {trusted})", path.display())]
    #[diagnostic(
        code(charter::signature::unknown_key),
        help("pass the signer's public key with `--verify-key`, or have the bundle signed by a trusted key")
    )]
    UnknownKey {
        /// The signature file.
        path: PathBuf,
        /// The signer named in it.
        key_id: String,
        /// The trusted key ids, comma-separated.
        trusted: String,
    },
    /// The signature does not match its provenance: forged or altered.
    #[error("the signature `{}` does not verify with key `{key_id}`: the signature or its provenance was altered", path.display())]
    #[diagnostic(code(charter::signature::forged))]
    Forged {
        /// The signature file.
        path: PathBuf,
        /// The key it names.
        key_id: String,
    },
    /// A good signature of another bundle: the bundle was changed after signing.
    #[error("the bundle's content hash is `{actual}` but its signature is for `{signed}`: the bundle was changed after it was signed")]
    #[diagnostic(
        code(charter::signature::hash_mismatch),
        help("rebuild and sign the bundle again, or restore the signed `bundle.json`")
    )]
    HashMismatch {
        /// The hash of the bundle as loaded.
        actual: String,
        /// The hash the signature vouches for.
        signed: String,
    },
}

/// The bytes an Ed25519 signature covers: a domain prefix, so a signature made for
/// anything else (a log seal) can never pass for a bundle's, then the canonical JSON of
/// the provenance.
fn signed_bytes(p: &Provenance) -> Vec<u8> {
    let mut out = format!("{SIGNATURE_FORMAT}\n").into_bytes();
    // Built field by field (not through `to_value`, which may fail): every field is
    // signed, and a field added to `Provenance` must be added here too (a test checks).
    let v = serde_json::json!({
        "bundle": p.bundle,
        "version": p.version,
        "hash": p.hash,
        "source_revision": p.source_revision,
        "source_dirty": p.source_dirty,
        "built_at": p.built_at,
        "compiler": p.compiler,
    });
    out.extend(charter_bundle::canonical::to_vec(&v));
    out
}

impl BundleSignature {
    /// Signs a provenance.
    pub fn sign(provenance: Provenance, key: &SigningKey) -> BundleSignature {
        let signature = key.sign_hex(&signed_bytes(&provenance));
        BundleSignature {
            format: SIGNATURE_FORMAT.to_string(),
            provenance,
            key_id: key.id().to_string(),
            signature,
        }
    }

    /// The signature file's text (pretty JSON, one trailing newline).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a signature file (at most [`MAX_SIGNATURE_FILE`] bytes).
    pub fn read(path: &Path) -> Result<BundleSignature, SignatureError> {
        let unreadable = |message: String| SignatureError::Unreadable {
            path: path.to_path_buf(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
        if !meta.is_file() {
            return Err(unreadable("not a regular file".to_string()));
        }
        if meta.len() > MAX_SIGNATURE_FILE {
            return Err(unreadable(format!(
                "it is {} bytes; a signature is at most {MAX_SIGNATURE_FILE}",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
        let sig: BundleSignature =
            serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        if sig.format != SIGNATURE_FORMAT {
            return Err(unreadable(format!(
                "its format is `{}`; this version reads `{SIGNATURE_FORMAT}`",
                sig.format
            )));
        }
        Ok(sig)
    }

    /// Checks the signature against the trusted keys and the bundle's content hash as
    /// loaded (`actual`, recomputed from the bytes, never read from the manifest alone).
    /// Returns the signing key's id. `path` names the signature file in errors.
    pub fn verify(
        &self,
        path: &Path,
        actual: &str,
        trusted: &[VerifyingKey],
    ) -> Result<String, SignatureError> {
        let Some(key) = trusted.iter().find(|k| k.id() == self.key_id) else {
            return Err(SignatureError::UnknownKey {
                path: path.to_path_buf(),
                key_id: self.key_id.clone(),
                trusted: trusted
                    .iter()
                    .map(|k| format!("`{}`", k.id()))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        if !key.verify_hex(&signed_bytes(&self.provenance), &self.signature) {
            return Err(SignatureError::Forged {
                path: path.to_path_buf(),
                key_id: self.key_id.clone(),
            });
        }
        if self.provenance.hash != actual {
            return Err(SignatureError::HashMismatch {
                actual: actual.to_string(),
                signed: self.provenance.hash.clone(),
            });
        }
        Ok(self.key_id.clone())
    }
}

/// The signature file of the bundle at `bundle_json` (`bundle.sig` in its folder).
pub fn signature_path(bundle_json: &Path) -> PathBuf {
    bundle_json.with_file_name(SIGNATURE_FILE)
}

/// Reads and verifies the signature beside `bundle_json` against the bundle's content
/// hash as loaded. Returns the signature, whose `key_id` is then a trusted key's.
pub fn verify_bundle(
    bundle_json: &Path,
    actual_hash: &str,
    trusted: &[VerifyingKey],
) -> Result<BundleSignature, SignatureError> {
    let path = signature_path(bundle_json);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(SignatureError::Unsigned {
            bundle: bundle_json.to_path_buf(),
        });
    }
    let sig = BundleSignature::read(&path)?;
    sig.verify(&path, actual_hash, trusted)?;
    Ok(sig)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn provenance() -> Provenance {
        Provenance {
            bundle: "zhenjiang".into(),
            version: "0.1.0".into(),
            hash: "sha256:00ff".into(),
            source_revision: Some("abc".into()),
            source_dirty: Some(false),
            built_at: "2026-12-07T12:00:00Z".into(),
            compiler: "charter 0.1.0".into(),
        }
    }

    #[test]
    fn a_signature_verifies_only_with_its_key_its_provenance_and_its_hash() {
        let key = SigningKey::from_seed(&[1; 32]);
        let other = SigningKey::from_seed(&[2; 32]);
        let sig = BundleSignature::sign(provenance(), &key);
        let p = Path::new("bundle.sig");
        let trusted = [other.verifying_key(), key.verifying_key()];
        assert_eq!(sig.verify(p, "sha256:00ff", &trusted).unwrap(), key.id());
        // Another bundle's hash.
        assert!(matches!(
            sig.verify(p, "sha256:00fe", &trusted),
            Err(SignatureError::HashMismatch { .. })
        ));
        // Not among the trusted keys.
        assert!(matches!(
            sig.verify(p, "sha256:00ff", &[other.verifying_key()]),
            Err(SignatureError::UnknownKey { .. })
        ));
        // The provenance altered: the version bumped after signing.
        let mut altered = sig.clone();
        altered.provenance.version = "0.2.0".into();
        assert!(matches!(
            altered.verify(p, "sha256:00ff", &trusted),
            Err(SignatureError::Forged { .. })
        ));
        // Another key's signature under this key's id.
        let mut swapped = BundleSignature::sign(provenance(), &other);
        swapped.key_id = key.id().to_string();
        assert!(matches!(
            swapped.verify(p, "sha256:00ff", &trusted),
            Err(SignatureError::Forged { .. })
        ));
    }

    #[test]
    fn every_field_of_the_provenance_is_signed() {
        let p = provenance();
        let signed = signed_bytes(&p);
        let body = signed
            .strip_prefix(b"charter-signature/1\n".as_slice())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v, serde_json::to_value(&p).unwrap());
    }

    #[test]
    fn a_signature_file_round_trips_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle.json");
        let key = SigningKey::from_seed(&[3; 32]);
        let trusted = [key.verifying_key()];
        assert!(matches!(
            verify_bundle(&bundle, "sha256:00ff", &trusted),
            Err(SignatureError::Unsigned { .. })
        ));
        let sig = BundleSignature::sign(provenance(), &key);
        std::fs::write(signature_path(&bundle), sig.to_json()).unwrap();
        assert_eq!(
            verify_bundle(&bundle, "sha256:00ff", &trusted)
                .unwrap()
                .key_id,
            key.id()
        );
        std::fs::write(signature_path(&bundle), "{\"format\":\"x\"}").unwrap();
        assert!(matches!(
            verify_bundle(&bundle, "sha256:00ff", &trusted),
            Err(SignatureError::Unreadable { .. })
        ));
        let big = "x".repeat(usize::try_from(MAX_SIGNATURE_FILE).unwrap() + 1);
        std::fs::write(signature_path(&bundle), big).unwrap();
        assert!(matches!(
            verify_bundle(&bundle, "sha256:00ff", &trusted),
            Err(SignatureError::Unreadable { .. })
        ));
    }
}
