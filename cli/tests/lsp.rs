//! End-to-end tests of `charter lsp`: the built binary, real JSON-RPC over its stdin and
//! stdout, a bundle on disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod lsp_client;

use std::path::PathBuf;

use lsp_client::{uri, Client};
use serde_json::{json, Value};

/// A bundle in a fresh temporary folder, removed on drop.
struct Bundle {
    dir: PathBuf,
}

impl Bundle {
    fn new(name: &str) -> Bundle {
        let dir = std::env::temp_dir().join(format!("charter-lsp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in FILES {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Bundle { dir }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let cache = self.dir.join(".cache");
        // The prelude is written read-only; make it writable so the folder can go.
        if let Ok(entries) = std::fs::read_dir(cache.join("charter")) {
            for e in entries.flatten() {
                if let Ok(meta) = e.metadata() {
                    let mut perms = meta.permissions();
                    #[allow(clippy::permissions_set_readonly_false)]
                    perms.set_readonly(false);
                    let _ = std::fs::set_permissions(e.path(), perms);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The scenario file: one line with Chinese text and an emoji before the misspelt
/// action, so UTF-16, UTF-8 and character columns all differ.
const SCENARIO: &str = "// 普惠金融\nscenario 普惠金融 \"普惠🙂金融\" { domain 金融 purpose \"授信\" term 2026-01-01 .. 2028-12-31 use tax.enterprise_tax { credit_code } via statistcs }\n";

const FILES: &[(&str, &str)] = &[
    ("charter.toml", "[bundle]\nname = \"demo\"\nversion = \"0.1.0\"\n"),
    (
        "grades.charter",
        "grades {\n  L1 \"公开\"\n  L2 \"内部\"\n  L3 \"敏感\"\n}\n\ngrade L1 allows verify, statistics, privacy_compute\ngrade L2 allows verify, statistics, privacy_compute\ngrade L3 allows verify, privacy_compute requires consent\n\nclassify field {\n  when tags contains \"商业秘密\" then L3\n  when tags contains \"公开\" then L1\n  otherwise L2\n}\n",
    ),
    (
        "catalog/tax.charter",
        "/// 企业纳税信息\ndataset tax.enterprise_tax \"企业纳税信息\" {\n  source \"市税务局\"\n  domain 金融\n  field credit_code \"统一社会信用代码\" tags \"公开\"\n  field tax_amount \"纳税金额\" tags \"商业秘密\"\n}\n",
    ),
    ("scenarios/finance.charter", SCENARIO),
];

fn utf16_len(s: &str) -> u64 {
    s.encode_utf16().count() as u64
}

#[test]
fn edit_cycle_hover_completion_navigation_rename_and_exit() {
    let b = Bundle::new("cycle");
    let mut c = Client::start(&b.dir);
    let init = c.initialize(&b.dir, &["utf-16"]);
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-16");
    assert_eq!(init["capabilities"]["textDocumentSync"]["change"], 2);

    // didOpen with an error → the diagnostic, its exact UTF-16 range, code and help.
    let scen = b.path("scenarios/finance.charter");
    let scen_uri = uri(&scen);
    c.open(&scen);
    let diags = c.diagnostics_where(&scen_uri, |d| !d.is_empty());
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    let line = SCENARIO.lines().nth(1).unwrap();
    let col = utf16_len(&line[..line.find("statistcs").unwrap()]);
    // 26 UTF-16 units fewer than bytes (147) and one more than characters (120): the
    // emoji is 2 units (4 bytes, 1 character), each of the 12 Chinese characters 1 unit
    // (3 bytes).
    assert_eq!(col, 121);
    assert_eq!(
        d["range"],
        json!({"start": {"line": 1, "character": 121}, "end": {"line": 1, "character": 130}})
    );
    assert_eq!(d["code"], "CH0101");
    assert_eq!(d["severity"], 1);
    assert_eq!(d["source"], "charter");
    let msg = d["message"].as_str().unwrap();
    assert!(
        msg.starts_with("unknown action `statistcs`\nhelp: did you mean `statistics`?"),
        "{msg}"
    );

    // The fix, as a code action, applied as an incremental edit → no diagnostics.
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": scen_uri}, "range": d["range"], "context": {"diagnostics": [d]}}),
    );
    let action = &actions[0];
    assert_eq!(action["title"], "replace with `statistics`");
    assert_eq!(action["kind"], "quickfix");
    let edit = &action["edit"]["changes"][&scen_uri][0];
    assert_eq!(edit["range"], d["range"]);
    assert_eq!(edit["newText"], "statistics");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": scen_uri, "version": 2},
               "contentChanges": [{"range": edit["range"], "text": edit["newText"]}]}),
    );
    let diags = c.diagnostics_where(&scen_uri, |d| d.is_empty());
    assert!(diags.is_empty());
    let fixed = SCENARIO.replace("statistcs", "statistics");
    let fixed_line = fixed.lines().nth(1).unwrap();
    let pos_of = |needle: &str| json!({"line": 1, "character": utf16_len(&fixed_line[..fixed_line.find(needle).unwrap()]) + 1});

    // Hover on a field: title, computed grade and the arm that set it, allowed actions.
    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": scen_uri}, "position": pos_of("credit_code")}),
    );
    let md = hover["contents"]["value"].as_str().unwrap();
    assert!(
        md.starts_with("字段 field **tax.enterprise_tax.credit_code** — 统一社会信用代码"),
        "{md}"
    );
    assert!(
        md.contains("级别 grade: `L1` 公开 — set by `when tags contains \"公开\" then L1`"),
        "{md}"
    );
    assert!(md.contains("允许 allows: `verify` 核验"), "{md}");
    let start = utf16_len(&fixed_line[..fixed_line.find("credit_code").unwrap()]);
    assert_eq!(
        hover["range"]["start"],
        json!({"line": 1, "character": start})
    );
    assert_eq!(
        hover["range"]["end"],
        json!({"line": 1, "character": start + 11})
    );

    // Completion after `via `: the actions with their Chinese titles.
    let via = utf16_len(&fixed_line[..fixed_line.find("via ").unwrap() + 4]);
    let items = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": scen_uri}, "position": {"line": 1, "character": via}}),
    );
    let items = items.as_array().unwrap();
    let pc = items
        .iter()
        .find(|i| i["label"] == "privacy_compute")
        .expect("privacy_compute offered");
    assert_eq!(pc["detail"], "隐私计算");
    assert!(items.iter().all(|i| i["label"] != "tax.enterprise_tax"));

    // Definition of the dataset: its declaration in the catalog.
    let def = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": scen_uri}, "position": pos_of("tax.enterprise_tax")}),
    );
    let tax_uri = uri(&b.path("catalog/tax.charter"));
    assert_eq!(def[0]["targetUri"], tax_uri);
    assert_eq!(
        def[0]["targetSelectionRange"],
        json!({"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 26}})
    );

    // Definition of a prelude action: the read-only prelude file.
    let def = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": scen_uri}, "position": pos_of("statistics")}),
    );
    let prelude_uri = def[0]["targetUri"].as_str().unwrap().to_string();
    assert!(
        prelude_uri.ends_with(".charter") && prelude_uri.contains("/.cache/charter/prelude-"),
        "{prelude_uri}"
    );
    let prelude = b
        .dir
        .join(".cache/charter")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(std::fs::metadata(&prelude)
        .unwrap()
        .permissions()
        .readonly());
    let line = def[0]["targetSelectionRange"]["start"]["line"]
        .as_u64()
        .unwrap() as usize;
    let prelude_text = std::fs::read_to_string(&prelude).unwrap();
    assert!(prelude_text
        .lines()
        .nth(line)
        .unwrap()
        .starts_with("action statistics"));

    // References to a field: its declaration and its use.
    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": tax_uri}, "position": {"line": 4, "character": 9},
               "context": {"includeDeclaration": true}}),
    );
    let refs = refs.as_array().unwrap();
    assert_eq!(refs.len(), 2, "{refs:?}");
    assert_eq!(refs[0]["uri"], tax_uri);
    assert_eq!(refs[1]["uri"], scen_uri);

    // Rename the scenario's dataset: prepare, then edits in both files.
    let prep = c.request(
        "textDocument/prepareRename",
        json!({"textDocument": {"uri": scen_uri}, "position": pos_of("tax.enterprise_tax")}),
    );
    assert_eq!(prep["placeholder"], "tax.enterprise_tax");
    let edit = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": scen_uri}, "position": pos_of("tax.enterprise_tax"), "newName": "tax.纳税"}),
    );
    let changes = edit["changes"].as_object().unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[&tax_uri][0]["newText"], "tax.纳税");
    assert_eq!(changes[&scen_uri].as_array().unwrap().len(), 1);
    // The prelude is not renamed.
    let refused = c.request(
        "textDocument/prepareRename",
        json!({"textDocument": {"uri": scen_uri}, "position": pos_of("statistics")}),
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("prelude"),
        "{refused}"
    );

    // Outline, workspace symbols, semantic tokens, folding: answered.
    let outline = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": tax_uri}}),
    );
    assert_eq!(outline[0]["name"], "tax.enterprise_tax");
    assert_eq!(outline[0]["children"].as_array().unwrap().len(), 2);
    let found = c.request("workspace/symbol", json!({"query": "纳税"}));
    assert!(found
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "tax.enterprise_tax.tax_amount"));
    let toks = c.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": scen_uri}}),
    );
    assert!(toks["data"].as_array().unwrap().len() > 20);
    let folds = c.request(
        "textDocument/foldingRange",
        json!({"textDocument": {"uri": tax_uri}}),
    );
    assert_eq!(folds[0]["startLine"], 1);

    // A file that appears on disk is picked up: the open document sees its dataset.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": scen_uri, "version": 3},
               "contentChanges": [{"text": format!("{fixed}scenario 新场景 \"新\" {{ domain 金融 purpose \"p\" term 2026-01-01 .. 2026-12-31 use extra.ds {{ f }} via verify }}\n")}]}),
    );
    let diags = c.diagnostics_where(&scen_uri, |d| !d.is_empty());
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown dataset `extra.ds`"),
        "{diags:?}"
    );
    std::fs::write(
        b.path("catalog/extra.charter"),
        "dataset extra.ds \"新数据\" { source \"某局\" domain 金融 field f \"字段\" tags \"公开\" }\n",
    )
    .unwrap();
    let diags = c.diagnostics_where(&scen_uri, |d| d.is_empty());
    assert!(diags.is_empty());

    assert_eq!(c.shutdown_and_exit(true), Some(0));
}

#[test]
fn utf8_positions_when_the_client_offers_them() {
    let b = Bundle::new("utf8");
    let mut c = Client::start(&b.dir);
    let init = c.initialize(&b.dir, &["utf-8", "utf-16"]);
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-8");
    let scen = b.path("scenarios/finance.charter");
    let scen_uri = uri(&scen);
    c.open(&scen);
    let diags = c.diagnostics_where(&scen_uri, |d| !d.is_empty());
    let line = SCENARIO.lines().nth(1).unwrap();
    let col = line.find("statistcs").unwrap() as u64;
    assert_eq!(col, 147);
    assert_eq!(
        diags[0]["range"]["start"],
        json!({"line": 1, "character": col})
    );
    assert_eq!(
        diags[0]["range"]["end"],
        json!({"line": 1, "character": col + 9})
    );
    assert_eq!(c.shutdown_and_exit(true), Some(0));
}

#[test]
fn related_locations_point_into_other_files() {
    let b = Bundle::new("related");
    std::fs::write(
        b.path("scenarios/dup.charter"),
        "dataset tax.enterprise_tax \"重复\" { source \"x\" domain 金融 field a \"a\" }\n",
    )
    .unwrap();
    let mut c = Client::start(&b.dir);
    c.initialize(&b.dir, &["utf-16"]);
    let dup = b.path("scenarios/dup.charter");
    c.open(&dup);
    let diags = c.diagnostics_where(&uri(&dup), |d| !d.is_empty());
    let d = diags
        .iter()
        .find(|d| d["code"] == "CH0102")
        .expect("duplicate reported");
    let rel = &d["relatedInformation"][0];
    assert_eq!(rel["message"], "first declared here");
    assert_eq!(rel["location"]["uri"], uri(&b.path("catalog/tax.charter")));
    assert_eq!(
        rel["location"]["range"]["start"],
        json!({"line": 1, "character": 8})
    );
    assert_eq!(c.shutdown_and_exit(true), Some(0));
}

#[test]
fn exit_without_shutdown_exits_with_1_even_with_stdin_open() {
    let b = Bundle::new("exit");
    let mut c = Client::start(&b.dir);
    c.initialize(&b.dir, &["utf-16"]);
    assert_eq!(c.shutdown_and_exit(false), Some(1));
}

#[test]
fn rapid_incremental_edits_apply_in_order() {
    let b = Bundle::new("rapid");
    let mut c = Client::start(&b.dir);
    c.initialize(&b.dir, &["utf-16"]);
    let scen = b.path("scenarios/finance.charter");
    let scen_uri = uri(&scen);
    c.open(&scen);
    c.diagnostics_where(&scen_uri, |d| !d.is_empty());
    // Delete the misspelt action, then type `privacy_compute` one character per
    // notification, all sent back to back: each range is only right if every earlier
    // change was applied first.
    let line = SCENARIO.lines().nth(1).unwrap();
    let col = utf16_len(&line[..line.find("statistcs").unwrap()]);
    let mut version = 1;
    let mut send = |c: &mut Client, start: u64, end: u64, text: &str| {
        version += 1;
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": scen_uri, "version": version},
                   "contentChanges": [{"range": {"start": {"line": 1, "character": start}, "end": {"line": 1, "character": end}}, "text": text}]}),
        );
    };
    send(&mut c, col, col + 9, "");
    for (i, ch) in "privacy_compute".chars().enumerate() {
        let at = col + i as u64;
        send(&mut c, at, at, &ch.to_string());
    }
    let diags = c.diagnostics_where(&scen_uri, |d| d.is_empty());
    assert!(diags.is_empty());
    let outline = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": scen_uri}}),
    );
    assert_eq!(
        outline[0]["children"][0]["detail"],
        "{ credit_code } via privacy_compute"
    );
    assert_eq!(c.shutdown_and_exit(true), Some(0));
}

#[test]
fn watched_files_notifications_keep_other_files_current() {
    let b = Bundle::new("watched");
    let mut c = Client::start(&b.dir);
    c.initialize_with(&b.dir, &["utf-16"], true);
    // The client can watch files for the server: the server asks it to.
    let reg = c.wait_for(|v| v["method"] == "client/registerCapability");
    let r = &reg["params"]["registrations"][0];
    assert_eq!(r["method"], "workspace/didChangeWatchedFiles");
    let globs: Vec<&str> = r["registerOptions"]["watchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["globPattern"].as_str().unwrap())
        .collect();
    assert_eq!(globs, vec!["**/*.charter", "**/charter.toml"]);

    let scen = b.path("scenarios/finance.charter");
    let scen_uri = uri(&scen);
    let text = SCENARIO
        .replace("statistcs", "statistics")
        .replace("tax.enterprise_tax", "extra.ds")
        .replace("credit_code", "f");
    std::fs::write(&scen, &text).unwrap();
    c.open(&scen);
    // (The misspelt action of the file as it was on disk at startup was reported first.)
    let unknown_dataset = |d: &[Value]| {
        d.len() == 1
            && d[0]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("unknown dataset `extra.ds`"))
    };
    c.diagnostics_where(&scen_uri, unknown_dataset);
    // A file created on disk, reported by the client.
    let extra = b.path("catalog/extra.charter");
    std::fs::write(
        &extra,
        "dataset extra.ds \"新数据\" { source \"某局\" domain 金融 field f \"字段\" tags \"公开\" }\n",
    )
    .unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": uri(&extra), "type": 1}]}),
    );
    c.diagnostics_where(&scen_uri, |d| d.is_empty());
    // charter.toml changed on disk: a broken manifest is reported on its own URI.
    let manifest = b.path("charter.toml");
    std::fs::write(
        &manifest,
        "[bundle]\nname = \"Demo Bundle\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": uri(&manifest), "type": 2}]}),
    );
    let diags = c.diagnostics_where(&uri(&manifest), |d| !d.is_empty());
    assert_eq!(diags[0]["code"], "CH0003");
    // The file deleted: its dataset is gone again.
    std::fs::remove_file(&extra).unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": uri(&extra), "type": 3}]}),
    );
    c.diagnostics_where(&scen_uri, unknown_dataset);
    assert_eq!(c.shutdown_and_exit(true), Some(0));
}

#[test]
fn a_file_outside_any_bundle_is_checked_alone_and_cleared_on_close() {
    let dir = std::env::temp_dir().join(format!("charter-lsp-lone-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("草稿.charter");
    std::fs::write(
        &file,
        "dataset a.b \"草稿\" { source \"x\" domain 金融 field f \"字段\" grade L9 }\n",
    )
    .unwrap();
    let mut c = Client::start(&dir);
    c.initialize(&dir, &["utf-16"]);
    let file_uri = uri(&file);
    c.open(&file);
    let diags = c.diagnostics_where(&file_uri, |d| !d.is_empty());
    assert!(
        diags.iter().any(|d| d["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown grade `L9`")),
        "{diags:?}"
    );
    // Prelude names still resolve for a lone file.
    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": file_uri}, "position": {"line": 0, "character": 38}}),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .starts_with("领域 domain **金融**"),
        "{hover}"
    );
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": file_uri}}),
    );
    c.diagnostics_where(&file_uri, |d| d.is_empty());
    assert_eq!(c.shutdown_and_exit(true), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn formatting_uses_charter_fmt() {
    let b = Bundle::new("fmt");
    let messy = "action   核查   \"核查\"\n\n\n\nmeasure  通报 \"通报\"\n";
    let path = b.path("extra.charter");
    std::fs::write(&path, messy).unwrap();
    let mut c = Client::start(&b.dir);
    c.initialize(&b.dir, &["utf-16"]);
    let file_uri = uri(&path);
    c.open(&path);
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": file_uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let edits = edits.as_array().unwrap();
    assert_eq!(edits.len(), 1);
    // Apply the edit by its UTF-16 range on the one-line-per-declaration text.
    let e = &edits[0];
    let to_offset = |p: &Value| {
        let line = p["line"].as_u64().unwrap() as usize;
        let ch = p["character"].as_u64().unwrap() as usize;
        let start: usize = messy.split_inclusive('\n').take(line).map(str::len).sum();
        let rest = &messy[start..];
        let mut units = 0;
        let mut at = rest.len();
        for (i, c) in rest.char_indices() {
            if units >= ch {
                at = i;
                break;
            }
            units += c.len_utf16();
        }
        start + at
    };
    let (s, t) = (
        to_offset(&e["range"]["start"]),
        to_offset(&e["range"]["end"]),
    );
    let formatted = format!(
        "{}{}{}",
        &messy[..s],
        e["newText"].as_str().unwrap(),
        &messy[t..]
    );
    let expected = charter_compiler::format::format_source("extra.charter", messy).unwrap();
    assert_eq!(formatted, expected);
    assert_ne!(formatted, messy);
    assert_eq!(c.shutdown_and_exit(true), Some(0));
}
