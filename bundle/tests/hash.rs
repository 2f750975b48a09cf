//! The content hash: a test vector (a tiny bundle and its hash, computed independently
//! from the definition in docs/bundle.md), independence from layout and key order, and
//! a change to any value of the content changing the hash.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use charter_bundle::CompiledBundle;
use serde_json::Value;

const TINY: &str = include_str!("tiny.json");
/// The hash of `tiny.json`, computed with Python's `json.dumps(sort_keys=True,
/// separators=(",", ":"), ensure_ascii=False)` (which is RFC 8785 for this bundle:
/// integers only, keys in the Basic Multilingual Plane) and `hashlib.sha256`.
const TINY_HASH: &str = "sha256:7ced25ef6f7e91feca84ce7b65e9ea6292017891964060a956dabc57c232741b";

fn tiny() -> CompiledBundle {
    serde_json::from_str(TINY).unwrap()
}

#[test]
fn the_tiny_bundle_hashes_to_its_test_vector() {
    let b = tiny();
    assert_eq!(b.format, charter_bundle::BUNDLE_FORMAT);
    assert_eq!(b.compute_hash(), TINY_HASH);
    // The manifest's own hash is not content.
    let mut with = b.clone();
    with.manifest.hash = TINY_HASH.to_string();
    assert_eq!(with.compute_hash(), TINY_HASH);
}

#[test]
fn layout_and_key_order_do_not_change_the_hash() {
    let v: Value = serde_json::from_str(TINY).unwrap();
    // Compact, pretty, and every object's keys reversed.
    fn reversed(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let parts: Vec<String> = m
                    .iter()
                    .rev()
                    .map(|(k, x)| format!("{}: {}", Value::String(k.clone()), reversed(x)))
                    .collect();
                format!("{{ {} }}", parts.join(" ,\n "))
            }
            Value::Array(a) => {
                let parts: Vec<String> = a.iter().map(reversed).collect();
                format!("[ {} ]", parts.join(" , "))
            }
            other => other.to_string(),
        }
    }
    for text in [
        v.to_string(),
        serde_json::to_string_pretty(&v).unwrap(),
        reversed(&v),
    ] {
        let b: CompiledBundle = serde_json::from_str(&text).unwrap();
        assert_eq!(b.compute_hash(), TINY_HASH, "{text}");
    }
}

/// Every leaf of `v` (string, number, bool) by path.
fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                leaves(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                leaves(x, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        Value::Object(m) => m.get_mut(k).unwrap(),
        _ => unreachable!(),
    })
}

#[test]
fn changing_any_value_of_the_content_changes_the_hash() {
    let v: Value = serde_json::from_str(TINY).unwrap();
    let mut paths = Vec::new();
    leaves(&v, &mut Vec::new(), &mut paths);
    let mut changed = 0;
    for path in paths {
        if path == ["manifest", "hash"] {
            continue;
        }
        let mut t = v.clone();
        let leaf = at(&mut t, &path);
        *leaf = match leaf.take() {
            Value::String(s) => Value::String(format!("{s}x")),
            Value::Number(n) => Value::from(n.as_i64().unwrap() + 1),
            Value::Bool(b) => Value::Bool(!b),
            Value::Null => Value::String("x".into()),
            _ => unreachable!(),
        };
        // A change the types refuse (a kind that does not exist) is no bundle at all.
        let Ok(b) = serde_json::from_value::<CompiledBundle>(t) else {
            continue;
        };
        assert_ne!(b.compute_hash(), TINY_HASH, "{path:?}");
        changed += 1;
    }
    assert!(changed > 40, "{changed}");
    // An element added to an array, or a key to the free-form schema, is a change too.
    let mut t = v.clone();
    t["entities"].as_array_mut().unwrap().push(Value::Null);
    let b: CompiledBundle = serde_json::from_value(t).unwrap();
    assert_ne!(b.compute_hash(), TINY_HASH);
    let mut t = v.clone();
    t["schema"]["Tiny"]["commonTypes"] = Value::Object(Default::default());
    let b: CompiledBundle = serde_json::from_value(t).unwrap();
    assert_ne!(b.compute_hash(), TINY_HASH);
}

#[test]
fn another_format_is_refused_naming_both() {
    let e = charter_bundle::check_format("charter-bundle/1").unwrap_err();
    assert_eq!(
        e.to_string(),
        "`charter-bundle/1` is not a bundle format this runtime reads (it reads `charter-bundle/2`)"
    );
    assert!(charter_bundle::check_format(charter_bundle::BUNDLE_FORMAT).is_ok());
}

#[test]
fn hex_is_lowercase_two_digits_a_byte() {
    assert_eq!(charter_bundle::hex(&[0, 0x0f, 0xa0, 0xff]), "000fa0ff");
}
