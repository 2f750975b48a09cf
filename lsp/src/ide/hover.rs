//! Hover: what a name means — its title, doc comment and article; for a field its
//! computed grade, the classification arm that set it and what the grade allows; for
//! a rule or a scope, the Cedar it compiles to.

use std::fmt::Write as _;

use charter_compiler::db::{self, BundleInput};
use charter_compiler::diagnostics::FileId;
use charter_compiler::lower::{self, CompiledPolicy};
use charter_compiler::sema::model::{Model, Ns, RuleKind};
use charter_compiler::syntax::ast::*;

use super::occurrences::{self, Symbol};
use super::{cite, Analysis, FileSpan};

/// What hover shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoverInfo {
    /// The text hovered, to highlight.
    pub at: FileSpan,
    /// Markdown.
    pub markdown: String,
}

/// How many compiled policies a hover shows before it summarizes the rest.
const MAX_POLICIES: usize = 4;

/// The policies of the bundle when it has no errors, lowered as `charter build` would
/// (without running Cedar's validator, which `charter check` and the build do).
#[salsa::tracked(returns(ref))]
pub fn compiled_policies(
    db: &dyn charter_compiler::db::Db,
    bundle: BundleInput,
) -> Option<Vec<CompiledPolicy>> {
    if db::has_errors(db::bundle_diagnostics(db, bundle)) {
        return None;
    }
    let lower_files = db::lower_files(db, bundle);
    let (manifest, _) = db::manifest(db, bundle);
    let compiled = lower::lower(manifest, db::bundle_model(db, bundle), &lower_files);
    Some(compiled.policies)
}

/// Hover at `offset` in `file`.
pub fn hover(a: &Analysis, file: FileId, offset: u32) -> Option<HoverInfo> {
    if let Some(occ) = occurrences::at(a, file, offset) {
        let markdown = symbol_markdown(a, &occ.symbol)?;
        return Some(HoverInfo {
            at: FileSpan {
                file,
                span: occ.span,
            },
            markdown,
        });
    }
    construct_hover(a, file, offset)
}

/// The words hover uses for each kind of name: Chinese first, English beside it.
pub fn kind_words(model: &Model, symbol: &Symbol) -> &'static str {
    match symbol.ns {
        Ns::Grade | Ns::GradeRule => "级别 grade",
        Ns::Action => "操作 action",
        Ns::Measure => "措施 measure",
        Ns::Fact => "开发主体事实 developer fact",
        Ns::Domain => "领域 domain",
        Ns::Dataset => "数据集 dataset",
        Ns::Field => "字段 field",
        Ns::Scenario => "应用场景 scenario",
        Ns::Rule => match model.rules.get(&symbol.key).map(|r| r.kind) {
            Some(RuleKind::Trigger(TriggerKind::Exit)) => "退出规则 exit",
            Some(RuleKind::Trigger(TriggerKind::Suspend)) => "暂停规则 suspend",
            Some(RuleKind::Trigger(TriggerKind::Notice)) => "提醒 notice",
            Some(RuleKind::Forbid) => "禁止规则 forbid",
            None => "规则 rule",
        },
        Ns::Fixture => "测试开发主体 fixture",
        Ns::Test => "测试 test",
        _ => "分类 classify",
    }
}

/// `title` of a name in the model, for hover and completion details.
pub fn title_of(model: &Model, symbol: &Symbol) -> Option<String> {
    match symbol.ns {
        Ns::Grade => model
            .grades
            .iter()
            .find(|g| g.name == symbol.key)
            .and_then(|g| g.title.clone()),
        Ns::Action => model.actions.get(&symbol.key).and_then(|x| x.title.clone()),
        Ns::Measure => model
            .measures
            .get(&symbol.key)
            .and_then(|x| x.title.clone()),
        Ns::Fact => model.facts.get(&symbol.key).and_then(|x| x.title.clone()),
        Ns::Domain => model.domains.get(&symbol.key).and_then(|x| x.title.clone()),
        Ns::Dataset => model
            .datasets
            .get(&symbol.key)
            .and_then(|x| x.title.clone()),
        Ns::Field => {
            let (d, f) = symbol.key.split_once('/')?;
            model.datasets.get(d)?.field(f)?.title.clone()
        }
        Ns::Scenario => model
            .scenarios
            .get(&symbol.key)
            .and_then(|x| x.title.clone()),
        Ns::Rule => model.rules.get(&symbol.key).and_then(|x| x.title.clone()),
        Ns::Fixture => model
            .fixtures
            .get(&symbol.key)
            .and_then(|x| x.title.clone()),
        _ => None,
    }
}

fn doc_of(model: &Model, symbol: &Symbol) -> Option<String> {
    match symbol.ns {
        Ns::Grade => model
            .grades
            .iter()
            .find(|g| g.name == symbol.key)
            .and_then(|g| g.doc.clone()),
        Ns::Action => model.actions.get(&symbol.key).and_then(|x| x.doc.clone()),
        Ns::Measure => model.measures.get(&symbol.key).and_then(|x| x.doc.clone()),
        Ns::Fact => model.facts.get(&symbol.key).and_then(|x| x.doc.clone()),
        Ns::Dataset => model.datasets.get(&symbol.key).and_then(|x| x.doc.clone()),
        Ns::Field => {
            let (d, f) = symbol.key.split_once('/')?;
            model.datasets.get(d)?.field(f)?.doc.clone()
        }
        Ns::Scenario => model.scenarios.get(&symbol.key).and_then(|x| x.doc.clone()),
        Ns::Rule => model.rules.get(&symbol.key).and_then(|x| x.doc.clone()),
        _ => None,
    }
}

/// `path:line` of a place, for "set by … (grades.charter:17)".
fn place(a: &Analysis, at: FileSpan) -> String {
    let lc = a.line_index(at.file).line_col(at.span.start as usize);
    format!("{}:{}", a.path(at.file), lc.line)
}

/// `` `verify` 核验 · `statistics` 统计分析 ``
fn actions_line(model: &Model, actions: &[String]) -> String {
    actions
        .iter()
        .map(
            |x| match model.actions.get(x).and_then(|n| n.title.as_deref()) {
                Some(t) => format!("`{x}` {t}"),
                None => format!("`{x}`"),
            },
        )
        .collect::<Vec<_>>()
        .join(" · ")
}

fn grade_words(model: &Model, g: usize) -> String {
    match model.grades.get(g) {
        Some(info) => match &info.title {
            Some(t) => format!("`{}` {t}", info.name),
            None => format!("`{}`", info.name),
        },
        None => String::from("?"),
    }
}

fn symbol_markdown(a: &Analysis, symbol: &Symbol) -> Option<String> {
    let model = a.model();
    // A name the model does not know has nothing to show; the diagnostic says why.
    let loc = symbol.loc(model)?;
    let mut md = String::new();
    let shown = match symbol.ns {
        Ns::Field => symbol.key.replace('/', "."),
        Ns::Fact => format!("developer.{}", symbol.key),
        Ns::Fixture => format!("\"{}\"", symbol.key),
        _ => symbol.key.clone(),
    };
    let _ = write!(md, "{} **{shown}**", kind_words(model, symbol));
    if let Some(t) = title_of(model, symbol) {
        let _ = write!(md, " — {t}");
    }
    if loc.file == FileId::PRELUDE {
        md.push_str(" · prelude");
    }
    md.push_str("\n\n");
    if let Some(doc) = doc_of(model, symbol) {
        md.push_str(doc.trim());
        md.push_str("\n\n");
    }
    let mut facts: Vec<String> = Vec::new();
    let mut article: Option<String> = None;
    match symbol.ns {
        Ns::Grade => {
            let g = model.grade_index(&symbol.key)?;
            facts.push(format!(
                "敏感程度 order: {} / {}（数字越大越敏感）",
                g + 1,
                model.grades.len()
            ));
            match model.grade_rules.get(&symbol.key) {
                Some(r) => {
                    let mut line = format!("允许 allows: {}", actions_line(model, &r.allows));
                    if r.requires_consent {
                        line.push_str(" — requires consent");
                    }
                    facts.push(line);
                    article = r.article.clone();
                }
                None => facts.push(String::from(
                    "允许 allows: nothing — no `grade … allows` rule",
                )),
            }
        }
        Ns::Field => {
            let (dname, fname) = symbol.key.split_once('/')?;
            let ds = model.datasets.get(dname)?;
            let f = ds.field(fname)?;
            if !f.tags.is_empty() {
                let tags: Vec<String> = f.tags.iter().map(|t| format!("\"{t}\"")).collect();
                facts.push(format!("标签 tags: {}", tags.join(", ")));
            }
            match f.grade {
                Some(g) => {
                    let mut line = format!("级别 grade: {}", grade_words(model, g));
                    let explicit = f
                        .explicit_grade
                        .as_deref()
                        .and_then(|e| model.grade_index(e));
                    if explicit == Some(g) && f.classified != Some(g) {
                        line.push_str(" — set explicitly on the field");
                    } else if let Some(arm) = f.set_by.and_then(|i| model.arms.get(i)) {
                        let arm_span = a.decl_span(arm.loc);
                        let text = arm_span
                            .map(|s| a.slice(s).trim().to_string())
                            .unwrap_or_default();
                        let _ = write!(line, " — set by `{text}`");
                        if let Some(s) = arm_span {
                            let _ = write!(line, " ({})", place(a, s));
                        }
                    } else if f.classified.is_some() {
                        line.push_str(" — by `otherwise`: no classification rule matches");
                    }
                    facts.push(line);
                    let gname = model
                        .grades
                        .get(g)
                        .map(|x| x.name.clone())
                        .unwrap_or_default();
                    match model.grade_rules.get(&gname) {
                        Some(r) => {
                            let mut line =
                                format!("允许 allows: {}", actions_line(model, &r.allows));
                            if r.requires_consent {
                                line.push_str(" — requires consent");
                            }
                            facts.push(line);
                            article = r.article.clone();
                        }
                        None => facts.push(format!(
                            "允许 allows: nothing — grade `{gname}` has no `grade … allows` rule"
                        )),
                    }
                }
                None => facts.push(String::from(
                    "级别 grade: none — no classification rule matches and there is no `otherwise`",
                )),
            }
            if let Some(t) = f.tags.iter().find(|t| model.consent_tags.contains(*t)) {
                let art = model
                    .consent
                    .as_ref()
                    .and_then(|(_, a)| a.clone())
                    .unwrap_or_else(|| String::from("第二十条"));
                facts.push(format!(
                    "需取得授权 consent: tagged \"{t}\", so a scope using it must say `requires consent` ({art})"
                ));
            }
            if article.is_none() {
                article = model.classify.as_ref().and_then(|(_, a)| a.clone());
            }
            facts.push(format!(
                "数据集 dataset: `{dname}`{}",
                ds.title
                    .as_ref()
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default()
            ));
        }
        Ns::Dataset => {
            let ds = model.datasets.get(&symbol.key)?;
            if let Some(s) = &ds.source {
                facts.push(format!("来源 source: {s}"));
            }
            if let Some(d) = &ds.domain {
                facts.push(format!("领域 domain: {d}"));
            }
            let fields: Vec<String> = ds
                .fields
                .iter()
                .map(|f| {
                    let g = f
                        .grade
                        .and_then(|g| model.grades.get(g))
                        .map(|g| g.name.as_str())
                        .unwrap_or("?");
                    format!("`{}` {g}", f.name)
                })
                .collect();
            facts.push(format!(
                "字段 fields ({}): {}",
                fields.len(),
                fields.join(" · ")
            ));
        }
        Ns::Scenario => {
            let s = model.scenarios.get(&symbol.key)?;
            if let Some(d) = &s.domain {
                let title = model.domains.get(d).and_then(|x| x.title.clone());
                facts.push(format!(
                    "领域 domain: {d}{}",
                    title
                        .filter(|t| t != d)
                        .map(|t| format!(" {t}"))
                        .unwrap_or_default()
                ));
            }
            if let Some(ItemKind::Scenario(sc)) = a.item(loc).map(|i| &i.kind) {
                if let Some(p) = &sc.purpose {
                    facts.push(format!("目的 purpose: {}", p.value));
                }
                if let Some(t) = &sc.term {
                    facts.push(format!(
                        "期限 term: {:04}-{:02}-{:02} .. {:04}-{:02}-{:02}",
                        t.start.year,
                        t.start.month,
                        t.start.day,
                        t.end.year,
                        t.end.month,
                        t.end.day
                    ));
                }
                facts.push(format!("使用 uses: {} dataset(s)", sc.uses.len()));
            }
            article = s.article.clone();
        }
        Ns::Rule => {
            let r = model.rules.get(&symbol.key)?;
            if !r.measures.is_empty() {
                let ms: Vec<String> = r
                    .measures
                    .iter()
                    .map(
                        |m| match model.measures.get(m).and_then(|x| x.title.as_deref()) {
                            Some(t) => format!("`{m}` {t}"),
                            None => format!("`{m}`"),
                        },
                    )
                    .collect();
                facts.push(format!("措施 measures: {}", ms.join(" · ")));
            }
            if !r.actions.is_empty() {
                facts.push(format!("禁止 forbids: {}", actions_line(model, &r.actions)));
            }
            article = r.article.clone();
        }
        Ns::Fact => {
            let f = model.facts.get(&symbol.key)?;
            facts.push(format!("类型 type: `{}`", f.ty.display()));
        }
        Ns::Domain => {
            let d = model.domains.get(&symbol.key)?;
            if d.priority {
                facts.push(String::from("重点领域 priority domain（第十二条）"));
            }
        }
        Ns::Action => {
            let grades: Vec<String> = model
                .grades
                .iter()
                .filter(|g| {
                    model
                        .grade_rules
                        .get(&g.name)
                        .is_some_and(|r| r.allows.contains(&symbol.key))
                })
                .map(|g| format!("`{}`", g.name))
                .collect();
            if !grades.is_empty() {
                facts.push(format!("允许它的级别 allowed by: {}", grades.join(" · ")));
            }
            let forbids: Vec<String> = model
                .rules
                .iter()
                .filter(|(_, r)| r.kind == RuleKind::Forbid && r.actions.contains(&symbol.key))
                .map(|(n, _)| format!("`{n}`"))
                .collect();
            if !forbids.is_empty() {
                facts.push(format!(
                    "禁止它的规则 forbidden by: {}",
                    forbids.join(" · ")
                ));
            }
        }
        Ns::Fixture => {
            let f = model.fixtures.get(&symbol.key)?;
            let set: Vec<String> = f
                .facts
                .iter()
                .map(|x| format!("`{}`", x.name.text))
                .collect();
            if !set.is_empty() {
                facts.push(format!("事实 facts: {}", set.join(" · ")));
            }
        }
        _ => {}
    }
    for f in facts {
        md.push_str(&f);
        md.push_str("  \n");
    }
    if let Some(art) = article {
        md.push_str("依据 ");
        md.push_str(&cite(&art));
        md.push('\n');
    }
    // Rules and scenarios: the Cedar they compile to.
    if matches!(symbol.ns, Ns::Rule | Ns::Scenario) {
        if let Some(item) = a.item(loc) {
            // A scenario compiles to a policy per `use` line; hovering one shows it.
            let max = if symbol.ns == Ns::Scenario {
                2
            } else {
                MAX_POLICIES
            };
            md.push_str(&cedar_section(a, loc.file, item.span, max));
        }
    }
    Some(md.trim_end().to_string())
}

/// Hover on a rule that has no name of its own — a `use` line, a `require`, a grade
/// rule, admission, consent — shows its article and the Cedar it compiles to.
fn construct_hover(a: &Analysis, file: FileId, offset: u32) -> Option<HoverInfo> {
    let (_, item) = a.item_at(file, offset)?;
    let (span, title, article): (Span, String, Option<String>) = match &item.kind {
        ItemKind::Scenario(s) => {
            if let Some(u) = s.uses.iter().find(|u| u.span.contains(offset)) {
                (
                    u.span,
                    format!("使用范围 scope · `use {}`", u.dataset.text),
                    s.article.as_ref().map(|x| x.value.clone()),
                )
            } else if let Some(r) = s.requires.iter().find(|r| r.span.contains(offset)) {
                (
                    r.span,
                    format!(
                        "场景准入条件 eligibility{}",
                        r.title
                            .as_ref()
                            .map(|t| format!(" — {}", t.value))
                            .unwrap_or_default()
                    ),
                    r.article
                        .as_ref()
                        .or(s.article.as_ref())
                        .map(|x| x.value.clone()),
                )
            } else {
                return None;
            }
        }
        ItemKind::Admission(ad) => {
            let r = ad.requires.iter().find(|r| r.span.contains(offset));
            let span = r.map_or(item.span, |r| r.span);
            let title = match r.and_then(|r| r.title.as_ref()) {
                Some(t) => format!("准入条件 admission — {}", t.value),
                None => String::from("准入条件 admission"),
            };
            (span, title, ad.article.as_ref().map(|x| x.value.clone()))
        }
        ItemKind::GradeRule(r) => (
            item.span,
            format!("级别规则 grade rule · `{}`", r.grade.text),
            r.article.as_ref().map(|x| x.value.clone()),
        ),
        ItemKind::Consent(c) => (
            item.span,
            String::from("授权同意 consent"),
            c.article.as_ref().map(|x| x.value.clone()),
        ),
        _ => return None,
    };
    let mut md = title;
    md.push_str("\n\n");
    if let Some(doc) = &item.doc {
        if span == item.span {
            md.push_str(doc.trim());
            md.push_str("\n\n");
        }
    }
    if let Some(art) = article {
        md.push_str("依据 ");
        md.push_str(&cite(&art));
        md.push('\n');
    }
    md.push_str(&cedar_section(a, file, span, MAX_POLICIES));
    Some(HoverInfo {
        at: FileSpan { file, span },
        markdown: md.trim_end().to_string(),
    })
}

/// The Cedar policies written inside `span` of `file`, fenced for markdown.
fn cedar_section(a: &Analysis, file: FileId, span: Span, max: usize) -> String {
    let Some(policies) = compiled_policies(a.db(), a.bundle()) else {
        return String::from("\n_The compiled Cedar shows here once the bundle has no errors._\n");
    };
    let path = a.path(file);
    let text = a.text(file);
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset_of = |line: usize, column: usize| -> Option<u32> {
        let start = *starts.get(line.checked_sub(1)?)?;
        let rest = text.get(start..)?;
        let col = rest
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i);
        u32::try_from(start + col).ok()
    };
    let mine: Vec<&CompiledPolicy> = policies
        .iter()
        .filter(|p| p.source.file == path)
        .filter(|p| {
            offset_of(p.source.line, p.source.column)
                .is_some_and(|o| span.start <= o && o < span.end.max(span.start + 1))
        })
        .collect();
    if mine.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\nCedar（{} 条 polic{}）:\n\n```cedar\n",
        mine.len(),
        if mine.len() == 1 { "y" } else { "ies" }
    );
    for (i, p) in mine.iter().take(max).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(charter_compiler::format_cedar(&p.annotated_cedar()).trim_end());
        out.push('\n');
    }
    out.push_str("```\n");
    if mine.len() > max {
        let _ = writeln!(
            out,
            "\n… and {} more (`charter build` writes them all)",
            mine.len() - max
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ide::fixture;

    fn hover_at(extra: &[(&str, &str)]) -> String {
        let (a, file, offset) = fixture::analysis(extra);
        hover(&a, file, offset)
            .map(|h| h.markdown)
            .unwrap_or_default()
    }

    #[test]
    fn field_hover_shows_grade_the_arm_that_set_it_and_allowed_actions() {
        let md = hover_at(&[(
            "scenarios/finance.charter",
            "scenario 普惠金融 \"普惠金融信贷\" {\n  domain 金融\n  purpose \"p\"\n  term 2026-01-01 .. 2028-12-31\n  use tax.enterprise_tax { tax_a$0mount } via statistics requires consent\n}\n",
        )]);
        assert!(
            md.starts_with("字段 field **tax.enterprise_tax.tax_amount** — 纳税金额"),
            "{md}"
        );
        assert!(md.contains("含商业秘密"), "{md}");
        assert!(md.contains("级别 grade: `L3` 敏感 — set by `when tags contains \"商业秘密\" then L3` (grades.charter:17)"), "{md}");
        assert!(
            md.contains(
                "允许 allows: `verify` 核验 · `statistics` 统计分析 · `privacy_compute` 隐私计算"
            ),
            "{md}"
        );
        assert!(
            md.contains("《镇江市公共数据授权运营管理暂行办法》第十四条"),
            "{md}"
        );
        assert!(md.contains("requires consent"), "{md}");
    }

    #[test]
    fn otherwise_is_named_when_no_arm_matches() {
        let md = hover_at(&[(
            "catalog/extra.charter",
            "dataset x.y \"t\" { source \"s\" domain 金融 field pla$0in \"普通\" }\n",
        )]);
        assert!(
            md.contains("级别 grade: `L2` 内部 — by `otherwise`"),
            "{md}"
        );
    }

    #[test]
    fn rule_hover_shows_title_article_measures_and_cedar() {
        let md = hover_at(&[(
            "rules.charter",
            "/// 期满即退出\nexit 到期$0退出 \"协议到期\" article \"第三十二条\" {\n  when developer.agreement_expires <= now\n  measures terminate, revoke\n}\n",
        )]);
        assert!(
            md.starts_with("退出规则 exit **到期退出** — 协议到期"),
            "{md}"
        );
        assert!(md.contains("期满即退出"), "{md}");
        assert!(
            md.contains("措施 measures: `terminate` 终止协议 · `revoke` 取消权限"),
            "{md}"
        );
        assert!(md.contains("第三十二条"), "{md}");
        assert!(md.contains("```cedar"), "{md}");
        assert!(md.contains("forbid"), "{md}");
    }

    #[test]
    fn a_use_line_shows_the_permit_it_compiles_to() {
        let md = hover_at(&[(
            "scenarios/finance.charter",
            "scenario 普惠金融 \"普惠金融信贷\" article \"第十二条\" {\n  domain 金融\n  purpose \"p\"\n  term 2026-01-01 .. 2028-12-31\n  use tax.enterprise_tax { credit_code } via $0 statistics\n}\n",
        )]);
        assert!(
            md.starts_with("使用范围 scope · `use tax.enterprise_tax`"),
            "{md}"
        );
        assert!(md.contains("permit"), "{md}");
        assert!(md.contains("scenario/普惠金融/use/1"), "{md}");
    }

    #[test]
    fn cedar_waits_for_a_bundle_without_errors() {
        let md = hover_at(&[(
            "scenarios/finance.charter",
            "exit 到期$0退出 \"协议到期\" { when developer.nope <= now measures terminate }\n",
        )]);
        assert!(md.contains("once the bundle has no errors"), "{md}");
    }

    #[test]
    fn prelude_names_hover_with_their_titles() {
        let md = hover_at(&[(
            "scenarios/finance.charter",
            "scenario 普惠金融 \"t\" {\n  domain 金融\n  purpose \"p\"\n  term 2026-01-01 .. 2028-12-31\n  use tax.enterprise_tax { credit_code } via sta$0tistics\n}\n",
        )]);
        assert!(
            md.starts_with("操作 action **statistics** — 统计分析 · prelude"),
            "{md}"
        );
        assert!(
            md.contains("允许它的级别 allowed by: `L1` · `L2` · `L3`"),
            "{md}"
        );
    }
}
