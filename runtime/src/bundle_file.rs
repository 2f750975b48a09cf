//! Reading `bundle.json`: one streaming pass over the file that deserializes the bundle
//! and computes its content hash, holding neither the file's text nor a JSON tree of
//! the catalog entities.
//!
//! The hash is [`CompiledBundle::compute_hash`]'s: SHA-256 over the compact JSON of the
//! bundle with an empty `manifest.hash`, the fields in the struct's order, `schema` and
//! `entities` serialized as the [`serde_json::Value`] they deserialize to (serde_json's
//! `preserve_order` is on, enabled by Cedar: object keys keep the file's order, and a
//! repeated key keeps its first place and its last value). The runtime rebuilds the
//! catalog's entities from the catalog, so `entities` is only hashed, streamed into
//! the hasher entity by entity as the parser reaches it (or, in a file whose fields are
//! out of the usual order, into a compact byte buffer hashed at the end), and the
//! loaded bundle carries [`Value::Null`] there.

use std::io::Write;
use std::path::Path;

use charter_compiler::lower::{BundleManifest, Catalog, BUNDLE_FORMAT};
use charter_compiler::{CompiledBundle, CompiledPolicy};
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
    if bundle.format != BUNDLE_FORMAT {
        return Err(LoadError::Format {
            found: bundle.format.clone(),
            expected: BUNDLE_FORMAT.to_string(),
        });
    }
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

/// The bundle's content hash, as [`CompiledBundle::compute_hash`] computes it, but
/// streamed into the hasher instead of serializing a copy: a large bundle is not held
/// twice.
///
/// Over a bundle from [`read_bundle_file`], whose `entities` are not kept, this is not
/// the file's hash (which that function has already checked).
pub fn content_hash(bundle: &CompiledBundle) -> String {
    let mut h = Hasher::default();
    // Writing into the hasher cannot fail, nor can serializing these types.
    let _ = write_head(
        &mut h,
        &bundle.format,
        &bundle.manifest,
        &bundle.schema,
        &bundle.policies,
    )
    .and_then(|()| serde_json::to_writer(&mut h, &bundle.entities))
    .and_then(|()| write_tail(&mut h, &bundle.catalog));
    h.finish()
}

/// Parses a bundle from `de`, to the end of the input, with its content hash.
fn parse<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> serde_json::Result<(CompiledBundle, String)> {
    let parsed = LoadSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(parsed)
}

/// SHA-256 as an [`std::io::Write`].
#[derive(Default)]
struct Hasher(sha2::Sha256);

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Hasher {
    /// `sha256:<hex>`.
    fn finish(self) -> String {
        use std::fmt::Write as _;
        let mut hex = String::with_capacity(71);
        hex.push_str("sha256:");
        for b in sha2::Digest::finalize(self.0) {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

/// The compact JSON of the bundle up to the value of `entities`: what `serde_json`
/// writes for [`CompiledBundle`] with an empty `manifest.hash`.
fn write_head(
    w: &mut dyn Write,
    format: &str,
    manifest: &BundleManifest,
    schema: &Value,
    policies: &[CompiledPolicy],
) -> serde_json::Result<()> {
    let manifest = BundleManifest {
        hash: String::new(),
        ..manifest.clone()
    };
    let io = serde_json::Error::io;
    w.write_all(b"{\"format\":").map_err(io)?;
    serde_json::to_writer(&mut *w, format)?;
    w.write_all(b",\"manifest\":").map_err(io)?;
    serde_json::to_writer(&mut *w, &manifest)?;
    w.write_all(b",\"schema\":").map_err(io)?;
    serde_json::to_writer(&mut *w, schema)?;
    w.write_all(b",\"policies\":").map_err(io)?;
    serde_json::to_writer(&mut *w, policies)?;
    w.write_all(b",\"entities\":").map_err(io)
}

/// The compact JSON of the bundle after the value of `entities`.
fn write_tail(w: &mut dyn Write, catalog: &Catalog) -> serde_json::Result<()> {
    let io = serde_json::Error::io;
    w.write_all(b",\"catalog\":").map_err(io)?;
    serde_json::to_writer(&mut *w, catalog)?;
    w.write_all(b"}").map_err(io)
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

/// Where the hash of `entities` stands.
#[derive(Default)]
enum Entities {
    /// Not read yet.
    #[default]
    Missing,
    /// Streamed into the hasher after the fields before it.
    Hashed,
    /// Read before some field that comes ahead of it in the hash: its compact JSON.
    Buffered(Vec<u8>),
}

/// The fields read so far, and the hash.
#[derive(Default)]
struct Parts {
    format: Option<String>,
    manifest: Option<BundleManifest>,
    schema: Option<Value>,
    policies: Option<Vec<CompiledPolicy>>,
    entities: Entities,
    catalog: Option<Catalog>,
    hasher: Hasher,
}

impl Parts {
    /// Hashes the fields before `entities`, when all have been read.
    fn hash_head<E: de::Error>(&mut self) -> Result<bool, E> {
        let (Some(format), Some(manifest), Some(schema), Some(policies)) =
            (&self.format, &self.manifest, &self.schema, &self.policies)
        else {
            return Ok(false);
        };
        write_head(&mut self.hasher, format, manifest, schema, policies).map_err(E::custom)?;
        Ok(true)
    }

    /// Reads the value of `entities` from `map`: into the hasher when the fields before
    /// it are in, or else into a buffer.
    fn read_entities<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        if !matches!(self.entities, Entities::Missing) {
            return Err(de::Error::duplicate_field("entities"));
        }
        self.entities = if self.hash_head()? {
            map.next_value_seed(Canonical::new(&mut self.hasher))?;
            Entities::Hashed
        } else {
            let mut buf = Vec::new();
            map.next_value_seed(Canonical::new(&mut buf))?;
            Entities::Buffered(buf)
        };
        Ok(())
    }

    /// The bundle and its hash, once every field has been read.
    fn finish<E: de::Error>(mut self) -> Result<(CompiledBundle, String), E> {
        let format = self
            .format
            .take()
            .ok_or_else(|| E::missing_field("format"))?;
        let manifest = self
            .manifest
            .take()
            .ok_or_else(|| E::missing_field("manifest"))?;
        let schema = self
            .schema
            .take()
            .ok_or_else(|| E::missing_field("schema"))?;
        let policies = self
            .policies
            .take()
            .ok_or_else(|| E::missing_field("policies"))?;
        let mut h = self.hasher;
        match self.entities {
            Entities::Missing => return Err(E::missing_field("entities")),
            Entities::Hashed => {}
            Entities::Buffered(buf) => {
                write_head(&mut h, &format, &manifest, &schema, &policies)
                    .and_then(|()| h.write_all(&buf).map_err(serde_json::Error::io))
                    .map_err(E::custom)?;
            }
        }
        let catalog = self.catalog.ok_or_else(|| E::missing_field("catalog"))?;
        write_tail(&mut h, &catalog).map_err(E::custom)?;
        let bundle = CompiledBundle {
            format,
            manifest,
            schema,
            policies,
            entities: Value::Null,
            catalog,
        };
        Ok((bundle, h.finish()))
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
                "entities" => p.read_entities(&mut map)?,
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
        let mut p = Parts {
            format: Some(seq.next_element()?.ok_or_else(|| short(0))?),
            manifest: Some(seq.next_element()?.ok_or_else(|| short(1))?),
            schema: Some(seq.next_element()?.ok_or_else(|| short(2))?),
            policies: Some(seq.next_element()?.ok_or_else(|| short(3))?),
            ..Parts::default()
        };
        p.hash_head()?;
        seq.next_element_seed(Canonical::new(&mut p.hasher))?
            .ok_or_else(|| short(4))?;
        p.entities = Entities::Hashed;
        p.catalog = Some(seq.next_element()?.ok_or_else(|| short(5))?);
        p.finish()
    }
}

/// Writes the JSON value it deserializes to `out` exactly as `serde_json::to_writer`
/// writes the [`Value`] that value deserializes to, without building the tree of an
/// array: its elements are written one by one. An object is read into a [`Value`]
/// (in `entities`, one entity at a time) so that its keys come out as `Value` keeps
/// them.
struct Canonical<'a> {
    out: &'a mut dyn Write,
    /// Write a `,` first: an array element after the first.
    comma: bool,
}

impl<'a> Canonical<'a> {
    fn new(out: &'a mut dyn Write) -> Canonical<'a> {
        Canonical { out, comma: false }
    }
}

impl<'de> DeserializeSeed<'de> for Canonical<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.comma {
            put(self.out, b",")?;
        }
        d.deserialize_any(CanonicalVisitor(self.out))
    }
}

struct CanonicalVisitor<'a>(&'a mut dyn Write);

fn put<E: de::Error>(out: &mut dyn Write, bytes: &[u8]) -> Result<(), E> {
    out.write_all(bytes).map_err(E::custom)
}

fn json<E: de::Error, T: serde::Serialize + ?Sized>(out: &mut dyn Write, v: &T) -> Result<(), E> {
    serde_json::to_writer(out, v).map_err(E::custom)
}

impl<'de> Visitor<'de> for CanonicalVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        json(self.0, &v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        json(self.0, &v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        json(self.0, &v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // As `Value` does: a number it cannot hold becomes `null`.
        match serde_json::Number::from_f64(v) {
            Some(n) => json(self.0, &n),
            None => put(self.0, b"null"),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        json(self.0, v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        put(self.0, b"null")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        put(self.0, b"null")
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        put(self.0, b"[")?;
        let mut comma = false;
        while seq
            .next_element_seed(Canonical {
                out: &mut *self.0,
                comma,
            })?
            .is_some()
        {
            comma = true;
        }
        put(self.0, b"]")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        json(self.0, &value)
    }
}
