//! The content hash of a bundle: SHA-256 over fixed sections, each hashed on its
//! canonical bytes ([`crate::canonical`], RFC 8785).
//!
//! ```text
//! digest(s) = SHA-256(JCS(value of section s))            for s in SECTIONS
//! hash      = "sha256:" + hex(SHA-256(
//!               "format "   + hex(digest(format))   + "\n" +
//!               "manifest " + hex(digest(manifest)) + "\n" +
//!               "schema "   + hex(digest(schema))   + "\n" +
//!               "policies " + hex(digest(policies)) + "\n" +
//!               "entities " + hex(digest(entities)) + "\n" +
//!               "catalog "  + hex(digest(catalog))  + "\n"))
//! ```
//!
//! The value of `manifest` is the manifest without its `hash` key. The values of
//! `manifest`, `policies` and `catalog` are those of the bundle's types as serde writes
//! them (a key the types do not know is not content; an optional key left out and
//! written as its default hash alike); `schema` and `entities` are any JSON.
//!
//! Why sections: each is hashed on its own, so a reader can hash them in whatever order
//! the file has them, and stream `entities` (the largest section, which the runtime does
//! not keep) element by element into its digest without holding it.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::{canonical, BundleManifest, CompiledPolicy};

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// The sections of the content, in the order the hash lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `format`.
    Format,
    /// `manifest`, without `hash`.
    Manifest,
    /// `schema`.
    Schema,
    /// `policies`.
    Policies,
    /// `entities`.
    Entities,
    /// `catalog`.
    Catalog,
}

impl Section {
    /// Every section, in order.
    pub const ALL: [Section; 6] = [
        Section::Format,
        Section::Manifest,
        Section::Schema,
        Section::Policies,
        Section::Entities,
        Section::Catalog,
    ];
    /// The section's key in `bundle.json`.
    pub fn key(self) -> &'static str {
        match self {
            Section::Format => "format",
            Section::Manifest => "manifest",
            Section::Schema => "schema",
            Section::Policies => "policies",
            Section::Entities => "entities",
            Section::Catalog => "catalog",
        }
    }
}

/// The digest of each section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentDigests {
    /// Of `format`.
    pub format: Digest,
    /// Of `manifest`, without `hash`.
    pub manifest: Digest,
    /// Of `schema`.
    pub schema: Digest,
    /// Of `policies`.
    pub policies: Digest,
    /// Of `entities`.
    pub entities: Digest,
    /// Of `catalog`.
    pub catalog: Digest,
}

impl ContentDigests {
    /// The digest of a section.
    pub fn get(&self, s: Section) -> &Digest {
        match s {
            Section::Format => &self.format,
            Section::Manifest => &self.manifest,
            Section::Schema => &self.schema,
            Section::Policies => &self.policies,
            Section::Entities => &self.entities,
            Section::Catalog => &self.catalog,
        }
    }
    /// The content hash, `sha256:<hex>`.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for s in Section::ALL {
            h.update(s.key().as_bytes());
            h.update(b" ");
            h.update(crate::hex(self.get(s)).as_bytes());
            h.update(b"\n");
        }
        format!("sha256:{}", crate::hex(&h.finalize()))
    }
}

/// SHA-256 as an [`io::Write`].
#[derive(Default)]
pub struct Hasher(Sha256);

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Hasher {
    /// The digest of what was written.
    pub fn finish(self) -> Digest {
        self.0.finalize().into()
    }
}

/// The digest of a JSON array written element by element, without holding the array:
/// equal to [`digest_value`] of the whole array.
pub struct ArrayDigest {
    hasher: Hasher,
    first: bool,
}

impl Default for ArrayDigest {
    fn default() -> Self {
        let mut hasher = Hasher::default();
        let _ = hasher.write_all(b"[");
        ArrayDigest {
            hasher,
            first: true,
        }
    }
}

impl ArrayDigest {
    /// Adds the next element.
    pub fn push(&mut self, v: &Value) {
        // Writing into the hasher cannot fail.
        if !self.first {
            let _ = self.hasher.write_all(b",");
        }
        self.first = false;
        let _ = canonical::write(&mut self.hasher, v);
    }
    /// Adds the next element, a value of the bundle's types.
    pub fn push_typed<T: Serialize>(&mut self, v: &T) {
        self.push(&to_value(v));
    }
    /// The digest of the array.
    pub fn finish(mut self) -> Digest {
        let _ = self.hasher.write_all(b"]");
        self.hasher.finish()
    }
}

/// The digest of a JSON value's canonical bytes.
pub fn digest_value(v: &Value) -> Digest {
    let mut h = Hasher::default();
    // Writing into the hasher cannot fail.
    let _ = canonical::write(&mut h, v);
    h.finish()
}

/// The digest of a value of the bundle's types, as serde writes it.
pub fn digest_of<T: Serialize>(v: &T) -> Digest {
    digest_value(&to_value(v))
}

/// The digest of `manifest`: the manifest without its `hash` key.
pub fn manifest_digest(m: &BundleManifest) -> Digest {
    let mut v = to_value(m);
    if let Value::Object(map) = &mut v {
        map.remove("hash");
    }
    digest_value(&v)
}

/// The digest of `policies`, one policy at a time.
pub fn policies_digest(policies: &[CompiledPolicy]) -> Digest {
    let mut d = ArrayDigest::default();
    for p in policies {
        d.push_typed(p);
    }
    d.finish()
}

/// A value of the bundle's types as JSON. Their serialization cannot fail: every map
/// key is a string and no number is a float.
fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
