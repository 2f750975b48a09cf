//! Reading `bundle.json`: one streaming pass over the file that deserializes the bundle
//! and computes its content hash, holding neither the file's text nor a JSON tree of
//! the catalog entities.
//!
//! The hash is the one `charter-bundle` defines ([`charter_bundle::hash`], and
//! `docs/bundle.md`): a digest of each section's canonical bytes (RFC 8785), whatever
//! order the file has them in. The runtime rebuilds the catalog's entities from the
//! catalog, so `entities` is only hashed, entity by entity as the parser reaches it,
//! each entity's tree dropped once it is in the digest; the loaded bundle carries
//! [`Value::Null`] there.

use std::path::Path;

use charter_bundle::hash::{self, ArrayDigest, Digest};
use charter_bundle::{BundleManifest, Catalog, CompiledBundle, CompiledPolicy, ContentDigests};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::LoadError;

/// Reads a `bundle.json` and checks its hash. [`crate::Engine::load`] also runs Cedar's
/// validator over the policies, set by set, as it indexes them.
///
/// The file is parsed as a stream; the bundle's `entities` are checked by the hash but
/// not kept: the returned bundle has [`Value::Null`] there (the runtime builds the
/// catalog's entities from the catalog). So [`content_hash`] of the returned bundle is
/// not its manifest's hash; the manifest's hash is the file's, verified.
pub fn read_bundle_file(path: &Path) -> Result<CompiledBundle, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Non-blocking, then checked with fstat: a FIFO, socket or device named bundle.json
    // (even one that exists only for a moment under `--watch`) is refused instead of
    // blocking the loader for good. Links are followed: the operator names this path.
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(io(std::io::Error::other(
            "not a regular file (a FIFO, socket, device or folder)",
        )));
    }
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let (bundle, hash) = parse(serde_json::Deserializer::from_reader(reader)).map_err(|e| {
        if e.is_io() {
            LoadError::Io {
                path: path.to_path_buf(),
                source: e.into(),
            }
        } else {
            LoadError::BadBundle {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        }
    })?;
    check_format(&bundle.format)?;
    if hash != bundle.manifest.hash {
        return Err(LoadError::BadBundle {
            path: path.to_path_buf(),
            message: format!(
                "its content hash is `{hash}` but the manifest says `{}`: the file was changed after it was built",
                bundle.manifest.hash
            ),
        });
    }
    Ok(bundle)
}

/// Refuses a bundle of another format than [`charter_bundle::BUNDLE_FORMAT`], naming both.
pub(crate) fn check_format(format: &str) -> Result<(), LoadError> {
    charter_bundle::check_format(format).map_err(|e| LoadError::Format {
        found: e.found,
        expected: e.expected.to_string(),
    })
}

/// The bundle's content hash: [`CompiledBundle::compute_hash`].
///
/// Over a bundle from [`read_bundle_file`], whose `entities` are not kept, this is not
/// the file's hash (which that function has already checked).
pub fn content_hash(bundle: &CompiledBundle) -> String {
    bundle.compute_hash()
}

/// Parses a bundle from `de`, to the end of the input, with its content hash.
fn parse<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> serde_json::Result<(CompiledBundle, String)> {
    let parsed = LoadSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(parsed)
}

/// The fields of [`CompiledBundle`], in order.
const FIELDS: &[&str] = &[
    "format", "manifest", "schema", "policies", "entities", "catalog",
];

/// Deserializes a [`CompiledBundle`] as its derived `Deserialize` does (a map or a
/// sequence of the six fields; unknown keys ignored; a missing or repeated field an
/// error), computing the content hash on the way and dropping `entities`.
struct LoadSeed;

impl<'de> DeserializeSeed<'de> for LoadSeed {
    type Value = (CompiledBundle, String);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_struct("CompiledBundle", FIELDS, BundleVisitor)
    }
}

/// The fields read so far; of `entities`, only its digest.
#[derive(Default)]
struct Parts {
    format: Option<String>,
    manifest: Option<BundleManifest>,
    schema: Option<Value>,
    policies: Option<Vec<CompiledPolicy>>,
    entities: Option<Digest>,
    catalog: Option<Catalog>,
}

impl Parts {
    /// The bundle and its hash, once every field has been read.
    fn finish<E: de::Error>(self) -> Result<(CompiledBundle, String), E> {
        let format = self.format.ok_or_else(|| E::missing_field("format"))?;
        let manifest = self.manifest.ok_or_else(|| E::missing_field("manifest"))?;
        let schema = self.schema.ok_or_else(|| E::missing_field("schema"))?;
        let policies = self.policies.ok_or_else(|| E::missing_field("policies"))?;
        let entities = self.entities.ok_or_else(|| E::missing_field("entities"))?;
        let catalog = self.catalog.ok_or_else(|| E::missing_field("catalog"))?;
        let digests = ContentDigests {
            format: hash::digest_of(&format),
            manifest: hash::manifest_digest(&manifest),
            schema: hash::digest_value(&schema),
            policies: hash::policies_digest(&policies),
            entities,
            catalog: hash::digest_of(&catalog),
        };
        let bundle = CompiledBundle {
            format,
            manifest,
            schema,
            policies,
            entities: Value::Null,
            catalog,
        };
        Ok((bundle, digests.hash()))
    }
}

/// Reads the next value of `map` into `slot`, which must be empty.
fn fill<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    slot: &mut Option<T>,
    name: &'static str,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

struct BundleVisitor;

impl<'de> Visitor<'de> for BundleVisitor {
    type Value = (CompiledBundle, String);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct CompiledBundle")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut p = Parts::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => fill(&mut p.format, "format", &mut map)?,
                "manifest" => fill(&mut p.manifest, "manifest", &mut map)?,
                "schema" => fill(&mut p.schema, "schema", &mut map)?,
                "policies" => fill(&mut p.policies, "policies", &mut map)?,
                "entities" => {
                    if p.entities.is_some() {
                        return Err(de::Error::duplicate_field("entities"));
                    }
                    p.entities = Some(map.next_value_seed(EntitiesDigest)?);
                }
                "catalog" => fill(&mut p.catalog, "catalog", &mut map)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        p.finish()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let short = |n| de::Error::invalid_length(n, &"struct CompiledBundle with 6 elements");
        let p = Parts {
            format: Some(seq.next_element()?.ok_or_else(|| short(0))?),
            manifest: Some(seq.next_element()?.ok_or_else(|| short(1))?),
            schema: Some(seq.next_element()?.ok_or_else(|| short(2))?),
            policies: Some(seq.next_element()?.ok_or_else(|| short(3))?),
            entities: Some(
                seq.next_element_seed(EntitiesDigest)?
                    .ok_or_else(|| short(4))?,
            ),
            catalog: Some(seq.next_element()?.ok_or_else(|| short(5))?),
        };
        p.finish()
    }
}

/// Reads a JSON value into its digest ([`hash::digest_value`]) without building the
/// tree of an array: its elements (in `entities`, the entities) are read and hashed one
/// at a time.
struct EntitiesDigest;

impl<'de> DeserializeSeed<'de> for EntitiesDigest {
    type Value = Digest;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Digest, D::Error> {
        d.deserialize_any(EntitiesVisitor)
    }
}

struct EntitiesVisitor;

impl<'de> Visitor<'de> for EntitiesVisitor {
    type Value = Digest;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Digest, A::Error> {
        let mut d = ArrayDigest::default();
        while let Some(v) = seq.next_element::<Value>()? {
            d.push(&v);
        }
        Ok(d.finish())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Digest, A::Error> {
        let v = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(hash::digest_value(&v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Digest, E> {
        Ok(hash::digest_value(&Value::from(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Digest, E> {
        Ok(hash::digest_value(&Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Digest, E> {
        Ok(hash::digest_value(&Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Digest, E> {
        // As `Value` does: a number it cannot hold becomes `null`.
        Ok(hash::digest_value(&Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Digest, E> {
        Ok(hash::digest_value(&Value::from(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Digest, E> {
        Ok(hash::digest_value(&Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Digest, E> {
        Ok(hash::digest_value(&Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Digest, D::Error> {
        d.deserialize_any(self)
    }
}
