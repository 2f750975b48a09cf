//! An equivalent Rego policy generated from a compiled bundle, evaluated by the
//! `regorus` crate: the baseline `charter bench --compare` measures against.
//!
//! The Rego is written as an OPA user would write it: the scopes are data, looked up by
//! scenario and dataset (`data.charter.scopes[s][d]`), and every other decision policy —
//! forbids, consent, grades, admission, exit, suspend, eligibility — becomes a rule
//! translated from the policy's own Cedar (through Cedar's JSON form), so the Rego
//! decides what the Cedar decides. It is evaluated once per field, like Cedar.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cedar_policy::{Policy, PolicyId};
use charter_compiler::{CompiledBundle, PolicyKind};
use serde_json::{json, Map, Value as Json};

use charter_runtime::time::parse_date;
use charter_runtime::Facts;

/// A Rego policy and its data document.
pub struct RegoPolicy {
    /// The module text.
    pub module: String,
    /// The data document (`data.charter…`).
    pub data: Json,
    /// Fact types, to convert facts the way the runtime does.
    facts: BTreeMap<String, String>,
}

/// What the Rego policy said about one field.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RegoOutcome {
    /// Forbid ids that fired.
    pub forbids: Vec<String>,
    /// Permit ids that fired.
    pub permits: Vec<String>,
}

impl RegoOutcome {
    /// Allow when a permit fired and no forbid did.
    pub fn allowed(&self) -> bool {
        self.forbids.is_empty() && !self.permits.is_empty()
    }
}

struct Gen {
    out: String,
    next: usize,
}

fn lit(v: &Json) -> Result<String, String> {
    match v {
        Json::Object(m) => match m.get("__entity") {
            Some(Json::Object(e)) => e
                .get("id")
                .map(|id| id.to_string())
                .ok_or_else(|| "an entity without id".to_string()),
            // Scope constraints write entities bare: `{"type": …, "id": …}`.
            _ => match (m.get("type"), m.get("id")) {
                (Some(_), Some(id)) => Ok(id.to_string()),
                _ => Err(format!("unsupported literal `{v}`")),
            },
        },
        other => Ok(other.to_string()),
    }
}

fn key(name: &str) -> String {
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        format!(".{name}")
    } else {
        format!("[{}]", Json::String(name.to_string()))
    }
}

fn binary<'a>(m: &'a Map<String, Json>, op: &str) -> Option<(&'a Json, &'a Json)> {
    let inner = m.get(op)?.as_object()?;
    Some((inner.get("left")?, inner.get("right")?))
}

impl Gen {
    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("b{}", self.next)
    }

    /// A Rego term for a Cedar value expression.
    fn term(&mut self, e: &Json) -> Result<String, String> {
        let m = e.as_object().ok_or("expression is not an object")?;
        if let Some(v) = m.get("Value") {
            return lit(v);
        }
        if let Some(Json::String(v)) = m.get("Var") {
            return Ok(match v.as_str() {
                "action" => "input.action".to_string(),
                "principal" => "input.developer_id".to_string(),
                "resource" => "input.field_id".to_string(),
                other => return Err(format!("unsupported variable `{other}`")),
            });
        }
        if let Some(Json::Object(dot)) = m.get(".") {
            let attr = dot.get("attr").and_then(Json::as_str).ok_or("no attr")?;
            let left = dot.get("left").and_then(Json::as_object).ok_or("no left")?;
            let base = match left.get("Var").and_then(Json::as_str) {
                Some("principal") => "input.developer",
                Some("resource") => "fld",
                Some("context") => "input",
                _ => return Err("attribute of a non-variable".to_string()),
            };
            return Ok(format!("{base}{}", key(attr)));
        }
        if let Some(Json::Array(items)) = m.get("Set") {
            let parts: Result<Vec<String>, String> = items.iter().map(|i| self.term(i)).collect();
            return Ok(format!("[{}]", parts?.join(", ")));
        }
        for op in ["+", "-", "*"] {
            if let Some((l, r)) = binary(m, op) {
                return Ok(format!("({} {op} {})", self.term(l)?, self.term(r)?));
            }
        }
        // A boolean used as a value.
        let b = self.stmt(e)?;
        let name = self.fresh();
        let _ = writeln!(self.out, "{name} := true if {{ {b} }} else := false");
        Ok(name)
    }

    /// A Rego body statement true exactly when the Cedar expression is.
    fn stmt(&mut self, e: &Json) -> Result<String, String> {
        let m = e.as_object().ok_or("expression is not an object")?;
        if let Some(v) = m.get("Value") {
            return match v {
                Json::Bool(true) => Ok("true".to_string()),
                Json::Bool(false) => Ok("false".to_string()),
                _ => Err(format!("a non-boolean literal `{v}` used as a condition")),
            };
        }
        if m.contains_key(".") {
            return Ok(format!("{} == true", self.term(e)?));
        }
        for (op, rop) in [
            ("==", "=="),
            ("!=", "!="),
            ("<", "<"),
            ("<=", "<="),
            (">", ">"),
            (">=", ">="),
        ] {
            if let Some((l, r)) = binary(m, op) {
                return Ok(format!("{} {rop} {}", self.term(l)?, self.term(r)?));
            }
        }
        if let Some((l, r)) = binary(m, "&&") {
            let (a, b) = (self.stmt(l)?, self.stmt(r)?);
            let name = self.fresh();
            let _ = writeln!(self.out, "{name} if {{ {a}; {b} }}");
            return Ok(name);
        }
        if let Some((l, r)) = binary(m, "||") {
            let (a, b) = (self.stmt(l)?, self.stmt(r)?);
            let name = self.fresh();
            let _ = writeln!(self.out, "{name} if {{ {a} }}\n{name} if {{ {b} }}");
            return Ok(name);
        }
        if let Some(Json::Object(not)) = m.get("!") {
            let arg = not.get("arg").ok_or("`!` without argument")?;
            let inner = self.stmt(arg)?;
            let (a, name) = (self.fresh(), self.fresh());
            let _ = writeln!(self.out, "{a} if {{ {inner} }}\n{name} if {{ not {a} }}");
            return Ok(name);
        }
        if let Some((set, el)) = binary(m, "contains") {
            return Ok(format!("{} in {}", self.term(el)?, self.term(set)?));
        }
        if let Some((l, r)) = binary(m, "containsAny") {
            let (l, r) = (self.term(l)?, self.term(r)?);
            let name = self.fresh();
            let _ = writeln!(self.out, "{name} if {{ some x in {l}; x in {r} }}");
            return Ok(name);
        }
        if let Some((l, r)) = binary(m, "in") {
            let var = l.get("Var").and_then(Json::as_str);
            return match var {
                Some("action") => match r.get("Set") {
                    Some(_) => Ok(format!("input.action in {}", self.term(r)?)),
                    None => Ok(format!("input.action == {}", self.term(r)?)),
                },
                Some("principal") => Ok(format!("{} in input.developer.scenarios", self.term(r)?)),
                _ => Err("an `in` this translation does not know".to_string()),
            };
        }
        Err(format!(
            "an expression this translation does not know: `{e}`"
        ))
    }

    fn scope(&mut self, c: &Json, var: &str) -> Result<Option<String>, String> {
        let op = c.get("op").and_then(Json::as_str).unwrap_or("All");
        let input = match var {
            "action" => "input.action",
            _ if op == "All" => return Ok(None),
            _ => return Err(format!("a {var} constraint this translation does not know")),
        };
        Ok(match op {
            "All" => None,
            "==" => Some(format!(
                "{input} == {}",
                lit(c.get("entity").ok_or("no entity")?)?
            )),
            "in" => match c.get("entities") {
                Some(Json::Array(es)) => {
                    let ids: Result<Vec<String>, String> = es.iter().map(lit).collect();
                    Some(format!("{input} in [{}]", ids?.join(", ")))
                }
                _ => Some(format!(
                    "{input} == {}",
                    lit(c.get("entity").ok_or("no entity")?)?
                )),
            },
            other => return Err(format!("scope operator `{other}`")),
        })
    }
}

impl RegoPolicy {
    /// Generates the Rego policy of a bundle.
    pub fn generate(bundle: &CompiledBundle) -> Result<RegoPolicy, String> {
        let mut g = Gen {
            out: String::new(),
            next: 0,
        };
        let mut rules = String::new();
        for p in &bundle.policies {
            if matches!(p.kind, PolicyKind::Scope | PolicyKind::Notice) {
                continue;
            }
            let policy = Policy::parse(Some(PolicyId::new(&p.id)), &p.cedar)
                .map_err(|e| format!("policy `{}` does not parse: {e}", p.id))?;
            let est = policy
                .to_json()
                .map_err(|e| format!("policy `{}` has no JSON form: {e}", p.id))?;
            let mut body = Vec::new();
            for var in ["principal", "action", "resource"] {
                if let Some(s) = g
                    .scope(est.get(var).unwrap_or(&Json::Null), var)
                    .map_err(|e| format!("policy `{}`: {e}", p.id))?
                {
                    body.push(s);
                }
            }
            for c in est
                .get("conditions")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let kind = c.get("kind").and_then(Json::as_str).unwrap_or("when");
                let b = g
                    .stmt(c.get("body").unwrap_or(&Json::Null))
                    .map_err(|e| format!("policy `{}`: {e}", p.id))?;
                if kind == "unless" {
                    let name = g.fresh();
                    let _ = writeln!(g.out, "{name} if {{ {b} }}");
                    body.push(format!("not {name}"));
                } else {
                    body.push(b);
                }
            }
            if body.is_empty() {
                body.push("true".to_string());
            }
            let _ = writeln!(
                rules,
                "forbids contains {} if {{ {} }}",
                Json::String(p.id.clone()),
                body.join("; ")
            );
        }
        // Scopes as data: scenario → dataset → the scopes.
        let mut scopes: Map<String, Json> = Map::new();
        for p in bundle
            .policies
            .iter()
            .filter(|p| p.kind == PolicyKind::Scope)
        {
            let (Some(s), Some(d)) = (&p.scenario, &p.dataset) else {
                continue;
            };
            let Some(term) = bundle.catalog.scenarios.get(s) else {
                continue;
            };
            let fields = p
                .fields
                .as_ref()
                .map(|fs| Json::Object(fs.iter().map(|f| (f.clone(), Json::Bool(true))).collect()));
            let entry = json!({
                "id": p.id,
                "actions": p.actions.clone().unwrap_or_default(),
                "fields": fields,
                "start": term.term_start,
                "end": term.term_end,
                "consent": p.requires_consent,
            });
            let by_dataset = scopes
                .entry(s.clone())
                .or_insert_with(|| Json::Object(Map::new()));
            if let Json::Object(m) = by_dataset {
                if let Json::Array(list) = m.entry(d.clone()).or_insert_with(|| Json::Array(vec![]))
                {
                    list.push(entry);
                }
            }
        }
        let mut fields: Map<String, Json> = Map::new();
        for (name, d) in &bundle.catalog.datasets {
            let fs: Map<String, Json> = d
                .fields
                .iter()
                .map(|(f, c)| (f.clone(), json!({"grade": c.grade, "tags": c.tags})))
                .collect();
            fields.insert(name.clone(), Json::Object(fs));
        }
        let module = format!(
            "package charter\n\nimport rego.v1\n\nfld := data.charter.fields[input.dataset][input.field]\n\n\
permits contains s.id if {{\n  some s in data.charter.scopes[input.scenario][input.dataset]\n  input.scenario in input.developer.scenarios\n  input.action in s.actions\n  field_ok(s)\n  s.start <= input.now\n  input.now <= s.end\n  consent_ok(s)\n}}\n\n\
field_ok(s) if s.fields == null\nfield_ok(s) if s.fields[input.field]\nconsent_ok(s) if s.consent == false\nconsent_ok(_) if input.consent == true\n\n\
result := {{\"forbids\": forbids, \"permits\": permits}}\n\n{rules}\n{}",
            g.out
        );
        Ok(RegoPolicy {
            module,
            data: json!({"charter": {"scopes": scopes, "fields": fields}}),
            facts: bundle
                .catalog
                .facts
                .iter()
                .map(|(k, v)| (k.clone(), v.ty.clone()))
                .collect(),
        })
    }

    /// A regorus engine loaded with the policy and its data.
    pub fn engine(&self) -> Result<regorus::Engine, String> {
        let mut e = regorus::Engine::new();
        e.add_policy("charter.rego".to_string(), self.module.clone())
            .map_err(|err| format!("the generated Rego does not load: {err}"))?;
        e.add_data(regorus::Value::from(self.data.clone()))
            .map_err(|err| format!("the Rego data does not load: {err}"))?;
        Ok(e)
    }

    /// The developer's facts as the Rego input carries them: dates and durations as
    /// days, like the Cedar lowering.
    pub fn developer_input(&self, facts: &Facts) -> Json {
        let mut out = Map::new();
        for (name, ty) in &self.facts {
            let Some(v) = facts.get(name) else { continue };
            let v = match (ty.as_str(), v) {
                ("date", Json::String(s)) => parse_date(s).map(Json::from).unwrap_or(Json::Null),
                _ => v.clone(),
            };
            out.insert(name.clone(), v);
        }
        Json::Object(out)
    }

    /// The input for one field of a request.
    #[allow(clippy::too_many_arguments)]
    pub fn input(
        developer: &Json,
        action: &str,
        dataset: &str,
        field: &str,
        scenario: &str,
        now: i64,
        consent: bool,
        purpose: &str,
    ) -> regorus::Value {
        regorus::Value::from(json!({
            "developer": developer,
            "action": action,
            "dataset": dataset,
            "field": field,
            "field_id": format!("{dataset}/{field}"),
            "scenario": scenario,
            "now": now,
            "consent": consent,
            "purpose": purpose,
        }))
    }

    /// Evaluates one prepared input.
    pub fn eval(
        engine: &mut regorus::Engine,
        input: regorus::Value,
    ) -> Result<regorus::Value, String> {
        engine.set_input(input);
        engine
            .eval_rule("data.charter.result".to_string())
            .map_err(|e| format!("rego evaluation failed: {e}"))
    }

    /// Reads the outcome out of an evaluation's value.
    pub fn outcome(v: &regorus::Value) -> RegoOutcome {
        let json: Json = v
            .to_json_str()
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Json::Null);
        let list = |k: &str| -> Vec<String> {
            let mut v: Vec<String> = json
                .get(k)
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        RegoOutcome {
            forbids: list("forbids"),
            permits: list("permits"),
        }
    }
}
