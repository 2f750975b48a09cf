//! `charter explain`: the documentation of each diagnostic code, with its examples run
//! through the compiler the way `charter check` runs a bundle; `--all` prints the whole
//! reference page, which is committed as `docs/diagnostics.md`.
//!
//! A code's documentation is markdown kept beside its check ([`CodeInfo::doc`]). A code
//! block whose info string is `<input> example …` or `<input> other …` is an input, not
//! text: it is written into a scratch bundle, checked, and printed together with what the
//! check reported. So the page cannot quote a message the compiler no longer prints, and
//! an example that stops reporting its code fails the generation. Everything else in the
//! documentation is copied as it is.
//!
//! The block forms (`<input>` is `charter`, `toml` or `link`):
//! - ```` ```charter example ```` the code's example, checked as `snippet.charter` beside
//!   the common `header.charter`; `standalone` leaves the header out;
//! - ```` ```charter other <title> ```` another message of the same code, printed with its
//!   output as comments; `other standalone <title>` leaves the header out;
//! - ```` ```toml example ```` / ```` ```toml other <title> ```` the bundle's
//!   `charter.toml`, with no `.charter` file at all;
//! - ```` ```link example ```` lines `name -> target`: symbolic links in the bundle folder.

use std::fmt::Write as _;
use std::path::Path;

use charter_compiler::diagnostics::{CodeInfo, DiagnosticJson, CODES};
use charter_compiler::{Code, Compiler, Diagnostic, Severity};

/// The page around the codes' sections, with `{{…}}` where generated parts go.
const FRAME: &str = include_str!("explain/reference.md");
/// The `charter.toml` of every example bundle (unless the example is the manifest).
const HEADER_MANIFEST: &str = include_str!("explain/header.toml");
/// The `header.charter` of every example bundle that is not standalone.
const HEADER_CHARTER: &str = include_str!("explain/header.charter");
/// The code whose example shows the human and JSON formats on the page.
const FORMAT_EXAMPLE: &str = "CH0304";

/// What each article that a code enforces requires, for the index by article:
/// (article, Chinese, English). A code citing an article missing here fails the page.
const ARTICLES: &[(&str, &str, &str)] = &[
    (
        "第四条",
        "原始数据不出域、数据可用不可见",
        "raw data never leaves the domain; usable, not visible",
    ),
    (
        "第八条",
        "授权运营期限一般不超过 3 年",
        "the term is generally at most 3 years",
    ),
    ("第十二条", "优先领域", "priority domains"),
    (
        "第十四条",
        "落实数据分类分级规则",
        "apply the classification and grading rules",
    ),
    (
        "第十五条",
        "最小必要，依场景申请",
        "minimum necessary, by scenario",
    ),
    (
        "第二十条",
        "个人信息和商业秘密须经信息主体授权，按场景使用",
        "personal information and trade secrets need the subject's authorization, by scenario",
    ),
    (
        "第三十二条",
        "退出机制的措施",
        "the measures of the exit mechanism",
    ),
];

/// `charter explain [CODE] [--all]`.
pub fn explain(code: Option<&str>, all: bool) -> u8 {
    let text = match (code, all) {
        (_, true) => reference(),
        (Some(code), false) => match find(code) {
            Some(info) => section(info),
            None => {
                eprintln!(
                    "error: unknown diagnostic code `{code}`\n  help: `charter explain` lists the codes"
                );
                return 2;
            }
        },
        (None, false) => Ok(index()),
    };
    match text {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// A code by id (`CH0301`, any case) or name (`forbidden-action`).
fn find(code: &str) -> Option<&'static CodeInfo> {
    CODES
        .iter()
        .find(|i| i.id.eq_ignore_ascii_case(code) || i.name == code)
}

/// The whole reference page.
pub fn reference() -> Result<String, String> {
    let mut codes = String::new();
    for info in CODES {
        codes.push_str(&section(info)?);
        codes.push('\n');
    }
    let format_example = find(FORMAT_EXAMPLE)
        .ok_or_else(|| format!("no code `{FORMAT_EXAMPLE}` for the format examples"))?;
    let outcome = main_example(format_example)?;
    let mut human = Vec::new();
    crate::check::write_human(&mut human, &outcome.compiler, &outcome.diags, &plain)
        .map_err(|e| format!("cannot render the human format: {e}"))?;
    let human = String::from_utf8_lossy(&human);
    let json = crate::check::json_report(&outcome.compiler, &outcome.diags)
        .map_err(|e| format!("cannot render the JSON format: {e}"))?;
    let page = FRAME
        .replace("{{index}}", index().trim_end())
        .replace("{{human}}", fence("text", &trim_lines(&human)).trim_end())
        .replace("{{json}}", fence("json", &format!("{json}\n")).trim_end())
        .replace(
            "{{header-manifest}}",
            fence("toml", HEADER_MANIFEST).trim_end(),
        )
        .replace(
            "{{header-charter}}",
            fence("charter", HEADER_CHARTER).trim_end(),
        )
        .replace("{{codes}}", codes.trim_end())
        .replace("{{by-article}}", by_article()?.trim_end());
    Ok(page)
}

/// The table of every code.
fn index() -> String {
    let mut s = String::from(
        "| 代码 / Code | 名称 / Name | 默认级别 / Severity | 可配置 / Configurable | 条款 / Article | 摘要 / Summary |\n|---|---|---|---|---|---|\n",
    );
    for i in CODES {
        let _ = writeln!(
            s,
            "| [{}](#{}) | `{}` | {} | {} | {} | {} |",
            i.id,
            i.anchor(),
            i.name,
            i.severity,
            if i.configurable { "是 yes" } else { "否 no" },
            i.article.unwrap_or("—"),
            i.summary.replace('|', "\\|"),
        );
    }
    s
}

/// The index by article: each article a code cites, with the codes citing it.
fn by_article() -> Result<String, String> {
    if let Some(i) = CODES.iter().find(|i| {
        i.article
            .is_some_and(|a| !ARTICLES.iter().any(|(x, _, _)| *x == a))
    }) {
        return Err(format!(
            "{} cites {}, which the index by article does not describe (`ARTICLES` in cli/src/explain.rs)",
            i.id,
            i.article.unwrap_or_default()
        ));
    }
    let mut s = String::from(
        "| 条款 / Article | 条例要求 | Requirement | 诊断 / Diagnostics |\n|---|---|---|---|\n",
    );
    for (article, zh, en) in ARTICLES {
        let codes: Vec<String> = CODES
            .iter()
            .filter(|i| i.article == Some(article))
            .map(|i| format!("[{}](#{})", i.id, i.anchor()))
            .collect();
        if codes.is_empty() {
            return Err(format!(
                "no code cites {article}; remove it from `ARTICLES`"
            ));
        }
        let _ = writeln!(s, "| {article} | {zh} | {en} | {} |", codes.join(", "));
    }
    Ok(s)
}

/// Where an input goes in the scratch bundle.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    /// `snippet.charter`.
    Charter,
    /// `charter.toml`, and no `.charter` file.
    Manifest,
    /// Symbolic links, `name -> target` a line.
    Link,
}

/// What an input block shows.
enum Role {
    /// The code's example, with its output in full.
    Example,
    /// Another message of the code, with its output as comments.
    Other(String),
}

/// An input block of a code's documentation.
struct Block {
    input: Input,
    standalone: bool,
    role: Role,
    text: String,
}

/// A checked example: the compiler (for its sources) and what the check reported.
struct Outcome {
    compiler: Compiler,
    diags: Vec<Diagnostic>,
}

impl Outcome {
    /// `charter check`'s exit code for these diagnostics (warnings not denied).
    fn exit(&self) -> u8 {
        u8::from(self.diags.iter().any(|d| d.severity == Severity::Error))
    }
    fn json(&self) -> Vec<DiagnosticJson> {
        let sources = self.compiler.sources();
        self.diags.iter().map(|d| d.to_json(&sources)).collect()
    }
}

/// The input block a fence's info string opens, or `None` for a block copied as it is.
fn parse_info(info: &str) -> Option<(Input, bool, bool, String)> {
    let mut words = info.split_whitespace();
    let input = match words.next()? {
        "charter" => Input::Charter,
        "toml" => Input::Manifest,
        "link" => Input::Link,
        _ => return None,
    };
    let example = match words.next()? {
        "example" => true,
        "other" => false,
        _ => return None,
    };
    let mut rest: Vec<&str> = words.collect();
    let standalone = rest.first() == Some(&"standalone");
    if standalone {
        rest.remove(0);
    }
    Some((input, standalone, example, rest.join(" ")))
}

/// The documentation of one code, as text and input blocks in order.
enum Piece<'a> {
    Text(&'a str),
    Block(Block),
}

fn pieces(doc: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut lines = doc.split_inclusive('\n');
    while let Some(line) = lines.next() {
        let Some(info) = line.trim_end().strip_prefix("```") else {
            out.push(Piece::Text(line));
            continue;
        };
        let mut body = String::new();
        let mut closed = false;
        let mut verbatim = vec![line];
        for l in lines.by_ref() {
            if l.trim_end() == "```" {
                closed = true;
                verbatim.push(l);
                break;
            }
            body.push_str(l);
            verbatim.push(l);
        }
        if !closed {
            return Err(format!(
                "a code block opened with `{}` is not closed",
                line.trim_end()
            ));
        }
        match parse_info(info) {
            Some((input, standalone, example, title)) => out.push(Piece::Block(Block {
                input,
                standalone,
                role: if example {
                    Role::Example
                } else {
                    Role::Other(title)
                },
                text: body,
            })),
            None => out.extend(verbatim.into_iter().map(Piece::Text)),
        }
    }
    Ok(out)
}

/// Writes the block into a scratch bundle and checks it as `charter check` does.
fn run(b: &Block) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a scratch bundle: {e}"))?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text)
            .map_err(|e| format!("cannot write the scratch bundle's `{name}`: {e}"))
    };
    write(
        "charter.toml",
        if b.input == Input::Manifest {
            &b.text
        } else {
            HEADER_MANIFEST
        },
    )?;
    if b.input != Input::Manifest && !b.standalone {
        write("header.charter", HEADER_CHARTER)?;
    }
    match b.input {
        Input::Charter => write("snippet.charter", &b.text)?,
        Input::Manifest => {}
        Input::Link => {
            for line in b.text.lines() {
                let (name, target) = line
                    .split_once(" -> ")
                    .ok_or_else(|| format!("a link is written `name -> target`, not `{line}`"))?;
                link(Path::new(target.trim()), &dir.path().join(name.trim()))?;
            }
        }
    }
    let (compiler, diags) = crate::check::diagnose(dir.path())
        .map_err(|e| format!("cannot load the scratch bundle: {e}"))?;
    Ok(Outcome { compiler, diags })
}

#[cfg(unix)]
fn link(target: &Path, at: &Path) -> Result<(), String> {
    std::os::unix::fs::symlink(target, at)
        .map_err(|e| format!("cannot link `{}`: {e}", at.display()))
}

#[cfg(not(unix))]
fn link(_target: &Path, at: &Path) -> Result<(), String> {
    Err(format!(
        "cannot link `{}`: the link example needs a Unix system",
        at.display()
    ))
}

/// The code's first `example` block, checked.
fn main_example(info: &CodeInfo) -> Result<Outcome, String> {
    for p in pieces(info.doc)? {
        if let Piece::Block(b) = p {
            if matches!(b.role, Role::Example) {
                return checked(info, &b);
            }
        }
    }
    Err(format!("the documentation of {} has no example", info.id))
}

/// Runs a block and makes sure it reports the code it documents.
fn checked(info: &CodeInfo, b: &Block) -> Result<Outcome, String> {
    let o = run(b)?;
    if !o.diags.iter().any(|d| d.code.info().id == info.id) {
        let first = b.text.lines().next().unwrap_or_default();
        let got: Vec<String> = o
            .json()
            .iter()
            .map(|d| {
                format!(
                    "{} {}:{}:{} {}",
                    d.code, d.file, d.line, d.column, d.message
                )
            })
            .collect();
        return Err(format!(
            "an example of {} no longer reports it (it reports {}): `{first}`",
            info.id,
            if got.is_empty() {
                "nothing".to_string()
            } else {
                got.join(", ")
            }
        ));
    }
    Ok(o)
}

/// One code's section of the page.
pub fn section(info: &CodeInfo) -> Result<String, String> {
    let mut s = String::new();
    let _ = write!(
        s,
        "## {} `{}`\n\n| 项目 / Item | 值 / Value |\n|---|---|\n| 名称 / Name | `{}` |\n| 默认级别 / Default severity | {} |\n| 可配置 / Configurable | {} |\n| 条款 / Article | {} |\n| 摘要 / Summary | {} |\n\n",
        info.id,
        info.name,
        info.name,
        match info.severity {
            Severity::Error => "错误 error",
            Severity::Warning => "警告 warning",
            Severity::Info => "提示 info",
        },
        if info.configurable { "是 / yes" } else { "否 / no" },
        info.article.unwrap_or("—"),
        info.summary.replace('|', "\\|"),
    );
    let mut examples = 0;
    let mut others = 0;
    for p in pieces(info.doc)? {
        match p {
            Piece::Text(t) => s.push_str(t),
            Piece::Block(b) => {
                let o = checked(info, &b)?;
                match &b.role {
                    Role::Example => {
                        examples += 1;
                        example(&mut s, &b, &o);
                    }
                    Role::Other(title) => {
                        if others == 0 {
                            s.push_str("**同一代码的其他消息 / Other messages of this code**（均已实际运行，输出写在注释中 / each run for real, the output in comments）:\n\n");
                        }
                        others += 1;
                        other(&mut s, info, title, &b, &o)?;
                    }
                }
            }
        }
    }
    // Every code shows an input that reports it, but for the internal error: an input
    // known to reach it is a bug to fix, not an example to keep.
    if examples == 0 && info.code != Code::Internal {
        return Err(format!("the documentation of {} has no example", info.id));
    }
    let trimmed = s.trim_end().len();
    s.truncate(trimmed);
    s.push_str("\n\n---\n");
    Ok(s)
}

fn fence(lang: &str, text: &str) -> String {
    format!("```{lang}\n{text}```\n")
}

/// The code's example: the input, the command, its exit code and each diagnostic.
fn example(s: &mut String, b: &Block, o: &Outcome) {
    match (b.input, b.standalone) {
        (Input::Charter, false) => s.push_str(
            "**触发示例 / Example**（使用上文的公共头 / with the common header above）:\n\n",
        ),
        (Input::Charter, true) => s.push_str(
            "**触发示例 / Example**（独立示例，不用公共头 / standalone, without the common header）:\n\n",
        ),
        (Input::Manifest, _) => s.push_str(
            "**触发示例 / Example** — `charter.toml`（本例不需要任何 `.charter` 文件 / no `.charter` file is needed）:\n\n",
        ),
        (Input::Link, _) => s.push_str(
            "**触发示例 / Example** — 在使用公共头的规则包目录中 / in the folder of a bundle with the common header:\n\n",
        ),
    }
    match b.input {
        Input::Charter => s.push_str(&fence("charter", &b.text)),
        Input::Manifest => s.push_str(&fence("toml", &b.text)),
        Input::Link => {
            let mut cmds = String::new();
            for (name, target) in b.text.lines().filter_map(|l| l.split_once(" -> ")) {
                let _ = writeln!(cmds, "ln -s {} {}", target.trim(), name.trim());
            }
            s.push_str(&fence("sh", &cmds));
        }
    }
    let _ = write!(
        s,
        "\n**输出 / Output** — `charter check --format json`，退出码 / exit code {}（逐项摘录 / fields excerpted）:\n\n",
        o.exit()
    );
    let mut out = String::new();
    for d in o.json() {
        let _ = writeln!(
            out,
            "{}:{}:{}  {} {} {}",
            d.file, d.line, d.column, d.severity, d.code, d.name
        );
        let _ = writeln!(out, "  message: {}", d.message);
        details(&mut out, "  ", &d, d.article.as_deref().map(Some));
    }
    s.push_str(&fence("text", &out));
}

/// Another message: the input with what it reports as comments.
fn other(
    s: &mut String,
    info: &CodeInfo,
    title: &str,
    b: &Block,
    o: &Outcome,
) -> Result<(), String> {
    let (lang, comment, home) = match b.input {
        Input::Charter => ("charter", "//", "snippet.charter"),
        Input::Manifest => ("toml", "#", "charter.toml"),
        Input::Link => return Err(format!("{}: a link block can only be the example", info.id)),
    };
    let _ = write!(s, "*{title}*");
    if b.standalone {
        s.push_str("（独立示例 / standalone）");
    }
    s.push_str("\n\n");
    let mut text = b.text.clone();
    for d in o.json() {
        let place = if d.file == home {
            format!("{}:{}", d.line, d.column)
        } else {
            format!("{}:{}:{}", d.file, d.line, d.column)
        };
        let code = if d.code == info.id {
            String::new()
        } else {
            format!("{} ", d.code)
        };
        let _ = writeln!(text, "{comment} → {place} {code}{}", d.message);
        // The article only where it is not its code's own, as for a bundle's rules.
        let own = find(&d.code).and_then(|i| i.article);
        let article = (d.article.as_deref() != own).then_some(d.article.as_deref());
        details(&mut text, &format!("{comment}   "), &d, article);
    }
    s.push_str(&fence(lang, &text));
    Ok(())
}

/// A diagnostic's label, help, related places and (when given) article, a line each.
fn details(out: &mut String, lead: &str, d: &DiagnosticJson, article: Option<Option<&str>>) {
    if !d.label.is_empty() {
        let _ = writeln!(out, "{lead}label:   {}", d.label);
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "{lead}help:    {h}");
    }
    if let Some(a) = article {
        let _ = writeln!(out, "{lead}article: {}", a.unwrap_or("null"));
    }
    for r in &d.related {
        let _ = writeln!(
            out,
            "{lead}related: {}:{}:{}  {}",
            r.file, r.line, r.column, r.message
        );
    }
}

/// A report drawn as the terminal shows it without colour, 80 columns wide, so the page
/// does not depend on the terminal that generates it.
fn plain(r: miette::Report) -> String {
    let mut s = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(80);
    match handler.render_report(&mut s, &*r) {
        Ok(()) => s,
        Err(_) => format!("{r:?}"),
    }
}

/// Text without trailing spaces on its lines (miette pads some), ending in one newline.
fn trim_lines(text: &str) -> String {
    let mut s: String = text
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    while s.ends_with("\n\n") {
        s.pop();
    }
    s
}
