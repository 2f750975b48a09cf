//! Ed25519 keys in files: generate a pair, read a private key (PEM, PKCS#8) to sign with
//! and a public key (PEM, SPKI) to verify with, and sign and check messages.
//!
//! The decision log seals its chain with these keys (see [`crate`]); the module knows
//! nothing of the log, so that signing other artifacts (bundles) can use it as it is.
//! The files are the standard formats `openssl genpkey -algorithm ed25519` writes and
//! reads, so keys can be made and inspected with common tools too.

use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::Signer;
use sha2::{Digest, Sha256};

/// The largest key file read: PEM keys are a few hundred bytes, so anything larger is
/// not a key and is refused before it is read whole.
pub const MAX_KEY_FILE: u64 = 16 * 1024;

/// A problem with a key file or a signature.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum KeyError {
    /// The file does not exist.
    #[error("the key file `{}` does not exist", path.display())]
    #[diagnostic(
        code(charter::key::missing),
        help("make a key pair with `charter keygen --out DIR`")
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read or written.
    #[error("cannot {action} the key file `{}`: {message}", path.display())]
    #[diagnostic(code(charter::key::io))]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The file is not a key of the kind expected.
    #[error("`{}` is not {expected}: {message}", path.display())]
    #[diagnostic(code(charter::key::format), help("{help}"))]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected.
        expected: &'static str,
        /// What is wrong.
        message: String,
        /// What to do.
        help: String,
    },
    /// Key generation would overwrite a file.
    #[error("`{}` already exists; a key file is never overwritten", path.display())]
    #[diagnostic(
        code(charter::key::exists),
        help("choose another folder or `--name`, or remove the old pair yourself")
    )]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The system's random source failed.
    #[error("cannot draw random bytes for a key: {message}")]
    #[diagnostic(code(charter::key::random))]
    Random {
        /// Why.
        message: String,
    },
}

/// A key id: the first 16 hex digits of SHA-256 over the 32-byte public key. It names the
/// key in seals and anchors, so a verifier can tell "signed by another key" from "forged".
fn key_id_of(public: &ed25519_dalek::VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    hex(digest.get(..8).unwrap_or(&[]))
}

/// Lowercase hex: the workspace's one encoder, `charter-bundle`'s.
pub use charter_bundle::hex;

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |c: u8| char::from(c).to_digit(16);
        let (hi, lo) = match pair {
            [h, l] => (digit(*h)?, digit(*l)?),
            _ => return None,
        };
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// A private key: signs. Its bytes are wiped from memory when it is dropped.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.id)
    }
}

/// A public key: checks signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    inner: ed25519_dalek::VerifyingKey,
    id: String,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyingKey({})", self.id)
    }
}

impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SigningKey, KeyError> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| KeyError::Random {
            message: e.to_string(),
        })?;
        Ok(SigningKey::from_inner(
            ed25519_dalek::SigningKey::from_bytes(&seed),
        ))
    }

    /// The key with this 32-byte seed (for tests and fixtures).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey::from_inner(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    fn from_inner(inner: ed25519_dalek::SigningKey) -> SigningKey {
        let id = key_id_of(&inner.verifying_key());
        SigningKey { inner, id }
    }

    /// The key's id (shared with its public key).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            inner: self.inner.verifying_key(),
            id: self.id.clone(),
        }
    }

    /// Signs `message`; the signature in lowercase hex (128 digits).
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex(&self.inner.sign(message).to_bytes())
    }

    /// The private key as PEM (PKCS#8, `BEGIN PRIVATE KEY`).
    pub fn to_pem(&self) -> Result<zeroize::Zeroizing<String>, KeyError> {
        self.inner
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Format {
                path: PathBuf::new(),
                expected: "an Ed25519 private key",
                message: e.to_string(),
                help: String::new(),
            })
    }

    /// Reads a private key file. The second value is a warning to show when the file can
    /// be read by others than its owner.
    pub fn read(path: &Path) -> Result<(SigningKey, Option<String>), KeyError> {
        let text = read_key_file(path)?;
        if text.contains("PUBLIC KEY-----") {
            return Err(KeyError::Format {
                path: path.to_path_buf(),
                expected: "a private key",
                message: "it holds a public key".to_string(),
                help: "signing needs the private key (the `.key` file of the pair); the `.pub` \
                       file is for verifying (`charter verify --key`, `charter log verify --key`)"
                    .to_string(),
            });
        }
        let inner =
            ed25519_dalek::SigningKey::from_pkcs8_pem(&text).map_err(|e| KeyError::Format {
                path: path.to_path_buf(),
                expected: "an Ed25519 private key in PEM (PKCS#8)",
                message: e.to_string(),
                help: "the file should begin with `-----BEGIN PRIVATE KEY-----`; make one with \
                       `charter keygen --out DIR` or `openssl genpkey -algorithm ed25519`"
                    .to_string(),
            })?;
        Ok((SigningKey::from_inner(inner), loose_permissions(path)))
    }
}

impl VerifyingKey {
    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether `signature_hex` is this key's signature of `message` (strict verification:
    /// no malleable or small-order forms).
    pub fn verify_hex(&self, message: &[u8], signature_hex: &str) -> bool {
        let Some(bytes) = unhex::<64>(signature_hex) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        self.inner.verify_strict(message, &sig).is_ok()
    }

    /// The public key as PEM (SPKI, `BEGIN PUBLIC KEY`).
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Format {
                path: PathBuf::new(),
                expected: "an Ed25519 public key",
                message: e.to_string(),
                help: String::new(),
            })
    }

    /// Reads a public key file; a private key file is accepted too (its public half is
    /// used), since whoever holds it may verify.
    pub fn read(path: &Path) -> Result<VerifyingKey, KeyError> {
        let text = read_key_file(path)?;
        if text.contains("PRIVATE KEY-----") {
            return SigningKey::read(path).map(|(k, _)| k.verifying_key());
        }
        let inner = ed25519_dalek::VerifyingKey::from_public_key_pem(&text).map_err(|e| {
            KeyError::Format {
                path: path.to_path_buf(),
                expected: "an Ed25519 public key in PEM",
                message: e.to_string(),
                help: "the file should begin with `-----BEGIN PUBLIC KEY-----` (the `.pub` file \
                       that `charter keygen` wrote)"
                    .to_string(),
            }
        })?;
        let id = key_id_of(&inner);
        Ok(VerifyingKey { inner, id })
    }
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    use std::io::Read;
    let io = |e: std::io::Error| KeyError::Io {
        action: "read",
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(KeyError::Format {
            path: path.to_path_buf(),
            expected: "a key file",
            message: "it is not a regular file".to_string(),
            help: "give the path of the `.key` or `.pub` file".to_string(),
        });
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(KeyError::Format {
            path: path.to_path_buf(),
            expected: "a key file",
            message: format!(
                "it is {} bytes long, and a key file is at most {MAX_KEY_FILE}",
                meta.len()
            ),
            help: "give the path of the `.key` or `.pub` file".to_string(),
        });
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => KeyError::Format {
                path: path.to_path_buf(),
                expected: "a key file",
                message: "it is not text".to_string(),
                help: "key files are PEM text".to_string(),
            },
            _ => io(e),
        })?;
    Ok(text)
}

#[cfg(unix)]
fn loose_permissions(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the private key `{}` can be read by others than its owner (mode {mode:o}); \
             run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn loose_permissions(_path: &Path) -> Option<String> {
    None
}

/// The files a new key pair was written to.
#[derive(Clone, Debug)]
pub struct KeyPairFiles {
    /// The private key, mode 0600.
    pub private: PathBuf,
    /// The public key.
    pub public: PathBuf,
    /// The key's id.
    pub id: String,
}

/// Generates a key pair and writes `DIR/NAME.key` (the private key, PEM PKCS#8, mode 0600)
/// and `DIR/NAME.pub` (the public key, PEM SPKI), creating `dir` when needed. Never
/// overwrites a file.
pub fn generate_files(dir: &Path, name: &str) -> Result<KeyPairFiles, KeyError> {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    for p in [&private, &public] {
        if p.exists() {
            return Err(KeyError::Exists { path: p.clone() });
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| KeyError::Io {
        action: "write",
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let key = SigningKey::generate()?;
    write_new(&private, key.to_pem()?.as_bytes(), 0o600)?;
    write_new(&public, key.verifying_key().to_pem()?.as_bytes(), 0o644)?;
    Ok(KeyPairFiles {
        private,
        public,
        id: key.id().to_string(),
    })
}

/// Writes a file that must not exist yet, with `mode` from its creation on (so the private
/// key is never readable by others, not even for a moment).
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::Exists {
            path: path.to_path_buf(),
        },
        _ => KeyError::Io {
            action: "write",
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    };
    let mut f = options.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_through_pem() {
        let key = SigningKey::from_seed(&[7; 32]);
        let sig = key.sign_hex(b"head");
        assert_eq!(sig.len(), 128);
        let public = key.verifying_key();
        assert!(public.verify_hex(b"head", &sig));
        assert!(!public.verify_hex(b"head!", &sig));
        assert!(!public.verify_hex(b"head", &sig[..126]));
        assert!(!public.verify_hex(b"head", "zz"));
        let other = SigningKey::from_seed(&[8; 32]);
        assert!(!other.verifying_key().verify_hex(b"head", &sig));
        assert_ne!(other.id(), key.id());
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(SigningKey::from_inner(back).id(), key.id());
        let pub_pem = public.to_pem().unwrap();
        let back = ed25519_dalek::VerifyingKey::from_public_key_pem(&pub_pem).unwrap();
        assert_eq!(back, public.inner);
    }
}
