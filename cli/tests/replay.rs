//! `charter replay` end to end: decisions answered by `charter serve` and logged, then
//! re-decided under an edited bundle; the counts agree with re-deciding every logged
//! request by hand with `charter decide`, and the groups name the rules that changed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use serde_json::{json, Value as Json};

mod common;
use common::{charter, copy_dir, root, run, serve, temp};

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "`{from}` in {file}");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// Every (developer, scenario, dataset, action) of the bundle, with and without consent,
/// asking for every field, in the developer's own scenarios and one other; for the first
/// developer also each field on its own. Half of them at a fixed time and half left to
/// the server's clock.
fn requests(bundle: &Path) -> Vec<Json> {
    let b: Json =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("bundle.json")).unwrap())
            .unwrap();
    let facts: Json = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/requests/facts.json")).unwrap(),
    )
    .unwrap();
    let keys = |v: &Json| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let catalog = &b["catalog"];
    let mut out = Vec::new();
    let mut n = 0u32;
    let all_scenarios = keys(&catalog["scenarios"]);
    for (d, developer) in keys(&facts).into_iter().enumerate() {
        let own: Vec<String> = facts[&developer]["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        let other = all_scenarios.iter().find(|s| !own.contains(s)).cloned();
        for scenario in own.iter().cloned().chain(other) {
            for dataset in keys(&catalog["datasets"]) {
                let mut subsets = vec![json!([])];
                if d == 0 {
                    for f in catalog["datasets"][&dataset]["fields"].as_array().unwrap() {
                        subsets.push(json!([f[0]]));
                    }
                }
                for action in keys(&catalog["actions"]) {
                    for (consent, fields) in [false, true]
                        .into_iter()
                        .flat_map(|c| subsets.iter().map(move |f| (c, f)))
                    {
                        n += 1;
                        let mut r = json!({
                            "developer": developer, "scenario": scenario,
                            "dataset": dataset, "action": action,
                        });
                        if fields != &json!([]) {
                            r["fields"] = fields.clone();
                        }
                        if consent {
                            r["consent"] = json!({"granted": true, "reference": format!("SQ-{n}")});
                        }
                        if n.is_multiple_of(2) {
                            r["at"] = json!("2027-03-01T10:00:00+08:00");
                        }
                        out.push(r);
                    }
                }
            }
        }
    }
    out
}

/// A field's effect, or the decision's under `""`.
fn effects(d: &Json) -> BTreeMap<String, bool> {
    let mut m: BTreeMap<String, bool> = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_string(),
                f["decision"] == "allow",
            )
        })
        .collect();
    m.insert(String::new(), d["decision"] == "allow");
    m
}

#[test]
fn replay_agrees_with_deciding_every_logged_request_by_hand() {
    let dir = temp("agree");
    let log = dir.join("decisions.db");
    let built = dir.join("base");
    let (code, _, err) = run(charter().args(["build", "policies", "--out"]).arg(&built));
    assert_eq!(code, 0, "{err}");
    let reqs = requests(&built);
    // CHARTER_REPLAY_DECISIONS raises the volume (e.g. 100000, with `--release`); by
    // default each request of the mix is sent once.
    let total: usize = std::env::var("CHARTER_REPLAY_DECISIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(reqs.len());
    let lines: String = reqs.iter().map(|r| format!("{r}\n")).collect();
    let requests_file = dir.join("requests.jsonl");
    std::fs::write(&requests_file, lines).unwrap();

    let (mut server, addr) = serve(&log, &[]);
    let batch = 100;
    let (code, out, err) = run(charter()
        .args([
            "loadgen",
            "--addr",
            &addr,
            "--connections",
            "4",
            "--seconds",
            "300",
        ])
        .args(["--batch", &batch.to_string()])
        .args(["--requests", &total.div_ceil(batch).to_string()])
        .arg("--requests-file")
        .arg(&requests_file));
    assert_eq!(code, 0, "{out}{err}");
    server.kill().unwrap();
    server.wait().unwrap();

    // The new version: a narrowed scope (allow → deny) and a widened one (deny → allow).
    let head = dir.join("head");
    copy_dir(&root().join("policies"), &head);
    edit(
        &head,
        "scenarios/inclusive_finance.charter",
        "credit_code, tax_period, sales_revenue, total_tax_amount",
        "credit_code, tax_period, sales_revenue",
    );
    edit(
        &head,
        "scenarios/inclusive_finance.charter",
        "credit_code, rating_year, credit_level\n  } via verify, privacy_compute",
        "credit_code, rating_year, credit_level\n  } via verify, statistics, privacy_compute",
    );

    let (code, out, err) = run(charter()
        .args(["replay", "--log"])
        .arg(&log)
        .arg("--bundle")
        .arg(&head)
        .args(["--format", "json", "--examples", "1000000"]));
    assert_eq!(code, 1, "{out}{err}");
    let report: Json = serde_json::from_str(&out).unwrap();

    // By hand: every logged request, as logged, decided by `charter decide` under HEAD.
    let conn = rusqlite::Connection::open(&log).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, request, answer FROM records WHERE kind = 'decision' ORDER BY seq")
        .unwrap();
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(rows.len() >= total, "{} logged of {total}", rows.len());
    let mut input = String::new();
    for (_, request, _) in &rows {
        let mut r: Json = serde_json::from_str(request).unwrap();
        // The log marks facts taken from the store; a request to `decide` carries them.
        assert_eq!(r["facts_from"], "store", "{request}");
        assert!(
            r["at"].is_string(),
            "the logged request has its time: {request}"
        );
        r.as_object_mut().unwrap().remove("facts_from");
        input.push_str(&format!("{r}\n"));
    }
    let mut decide = charter()
        .args(["decide", "--bundle"])
        .arg(&head)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = decide.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let decided = decide.wait_with_output().unwrap();
    writer.join().unwrap();
    let answers: Vec<Json> = String::from_utf8(decided.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), rows.len());

    let (mut changed, mut to_deny, mut to_allow) = (BTreeSet::new(), 0u64, 0u64);
    for ((id, _, answer), new) in rows.iter().zip(&answers) {
        let old: Json = serde_json::from_str(answer).unwrap();
        let (before, after) = (effects(&old), effects(new));
        if before != after {
            changed.insert(id.clone());
            match (before[""], after[""]) {
                (true, false) => to_deny += 1,
                (false, true) => to_allow += 1,
                _ => {}
            }
        }
    }
    assert!(to_deny > 0 && to_allow > 0, "{to_deny} {to_allow}");
    assert_eq!(report["read"], rows.len() as u64);
    assert_eq!(report["replayed"], rows.len() as u64);
    assert_eq!(report["skipped"], json!([]));
    assert_eq!(report["changed"], changed.len() as u64);
    assert_eq!(report["allow_to_deny"], to_deny);
    assert_eq!(report["deny_to_allow"], to_allow);

    // Every changed decision is an example of some group, and only those.
    let examples: BTreeSet<String> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["examples"].as_array().unwrap().iter())
        .map(|e| e["decision_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(examples, changed);

    // The groups name the scopes that make the difference.
    let group = |change: &str, id: &str| {
        report["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["change"] == change && g["cause"]["id"] == id)
            .unwrap_or_else(|| panic!("no {change} group for {id}: {}", report["groups"]))
            .clone()
    };
    let narrowed = group("allow_to_deny", "field_outside_scope");
    assert_eq!(narrowed["cause"]["policy"], "scenario/普惠金融/use/2");
    assert!(narrowed["examples"]
        .as_array()
        .unwrap()
        .iter()
        .all(
            |e| e["fields"] == json!(["total_tax_amount"]) && e["dataset"] == "tax.enterprise_tax"
        ));
    let widened = group("deny_to_allow", "action_not_in_scope");
    assert_eq!(widened["cause"]["policy"], "scenario/普惠金融/use/3");
    assert!(widened["examples"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"] == "statistics" && e["dataset"] == "tax.credit_rating"));

    // Text and markdown say what JSON says (on one dataset's decisions, to be quick).
    let filtered = |format: &str| {
        run(charter()
            .args([
                "replay",
                "--dataset",
                "tax.credit_rating",
                "--format",
                format,
            ])
            .arg("--log")
            .arg(&log)
            .arg("--bundle")
            .arg(&head))
    };
    let (code, out, _) = filtered("json");
    assert_eq!(code, 1);
    let part: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(part["allow_to_deny"], 0);
    let (changed_part, read_part) = (&part["changed"], &part["read"]);
    let (code, text, _) = filtered("text");
    assert_eq!(code, 1);
    assert!(
        text.contains(&format!("{read_part} re-decided: {changed_part} changed")),
        "{text}"
    );
    assert!(
        text.contains("deny → allow · ")
            && text.contains("action_not_in_scope (`scenario/普惠金融/use/3`)"),
        "{text}"
    );
    let (_, md, _) = filtered("markdown");
    assert!(
        md.starts_with(&format!(
            "### `charter replay`: {changed_part} of {read_part} logged decisions change"
        )),
        "{md}"
    );
    assert!(
        md.contains("| change | cause | decisions | fields |"),
        "{md}"
    );
    assert!(md.contains("<details>"), "{md}");

    // The same bundle changes nothing, and a filter narrows what is read.
    let (code, out, _) = run(charter()
        .args(["replay", "--format", "json", "--log"])
        .arg(&log)
        .args(["--bundle", "policies", "--developer", "bank-001"]));
    assert_eq!(code, 0, "{out}");
    let same: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(same["changed"], 0);
    assert!(same["read"].as_u64().unwrap() < rows.len() as u64);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_errors_are_exit_2_and_name_the_input() {
    let dir = temp("errors");
    let (code, _, err) = run(charter()
        .args(["replay", "--log"])
        .arg(dir.join("missing.db"))
        .args(["--bundle", "policies"]));
    assert_eq!(code, 2);
    assert!(err.contains("missing.db"), "{err}");
    let (code, _, err) = run(charter().args([
        "replay",
        "--log",
        "x.db",
        "--bundle",
        "policies",
        "--since",
        "yesterday",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("`--since yesterday` is not a time"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
