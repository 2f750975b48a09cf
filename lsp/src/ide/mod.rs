//! The editor features over one bundle, in the compiler's terms: byte offsets, spans,
//! `FileId`s and the semantic model. Nothing here speaks LSP; [`crate::convert`] turns
//! the results into protocol types.
//!
//! An [`Analysis`] is a snapshot: a clone of the salsa database and the bundle input.
//! A new edit cancels queries still running on a snapshot (salsa unwinds with
//! [`salsa::Cancelled`]); callers run features through [`Analysis::catch`] so the
//! cancellation stops at this boundary.

pub mod completion;
pub mod fix;
pub mod folding;
pub mod format;
pub mod hover;
pub mod nav;
pub mod occurrences;
pub mod symbols;
pub mod tokens;

use std::panic::AssertUnwindSafe;
use std::sync::LazyLock;

use charter_compiler::db::{self, BundleInput, CharterDatabase, SourceFile};
use charter_compiler::diagnostics::{Diagnostic, FileId, LineIndex};
use charter_compiler::sema::model::{Loc, Model};
use charter_compiler::syntax::ast::{Item, ItemKind, Span};
use charter_compiler::syntax::ParsedFile;

/// A place in a bundle: a file and a byte span in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileSpan {
    /// The file.
    pub file: FileId,
    /// The span.
    pub span: Span,
}

/// A read-only view of one bundle at one revision.
#[derive(Clone)]
pub struct Analysis {
    db: CharterDatabase,
    bundle: BundleInput,
}

impl Analysis {
    /// A snapshot of `db` (cheap: salsa shares the storage between clones).
    pub fn new(db: &CharterDatabase, bundle: BundleInput) -> Self {
        Analysis {
            db: db.clone(),
            bundle,
        }
    }

    /// Runs `f`, turning salsa's cancellation (a newer edit arrived) into `Err`.
    pub fn catch<T>(&self, f: impl FnOnce(&Analysis) -> T) -> Result<T, salsa::Cancelled> {
        salsa::Cancelled::catch(AssertUnwindSafe(|| f(self)))
    }

    /// The database.
    pub fn db(&self) -> &CharterDatabase {
        &self.db
    }

    /// The bundle input.
    pub fn bundle(&self) -> BundleInput {
        self.bundle
    }

    /// Every file of the bundle, indexed by `FileId`.
    pub fn files(&self) -> &[SourceFile] {
        self.bundle.files(&self.db)
    }

    /// The file ids of the bundle.
    pub fn file_ids(&self) -> impl Iterator<Item = FileId> + '_ {
        (0..self.files().len()).filter_map(FileId::from_index)
    }

    fn source(&self, file: FileId) -> Option<SourceFile> {
        self.files().get(file.index()).copied()
    }

    /// The id of the file at a bundle-relative path.
    pub fn file_id(&self, path: &str) -> Option<FileId> {
        self.files()
            .iter()
            .position(|f| f.path(&self.db) == path)
            .and_then(FileId::from_index)
    }

    /// The bundle-relative path of a file (`<prelude>/prelude.charter` for the prelude).
    pub fn path(&self, file: FileId) -> &str {
        self.source(file).map_or("", |f| f.path(&self.db).as_str())
    }

    /// The text of a file.
    pub fn text(&self, file: FileId) -> &str {
        self.source(file).map_or("", |f| f.text(&self.db).as_str())
    }

    /// The line index of a file, built once per revision of its text (a query of the
    /// database, so every snapshot of that revision shares it).
    pub fn line_index(&self, file: FileId) -> &LineIndex {
        static EMPTY: LazyLock<LineIndex> = LazyLock::new(|| LineIndex::new(""));
        match self.source(file) {
            Some(f) => db::line_index(&self.db, f),
            None => &EMPTY,
        }
    }

    /// The parse of a file (empty for the manifest).
    pub fn parsed(&self, file: FileId) -> &ParsedFile {
        static EMPTY: ParsedFile = ParsedFile {
            items: Vec::new(),
            errors: Vec::new(),
            broken: Vec::new(),
        };
        match self.source(file) {
            Some(f) => db::parse_file(&self.db, f),
            None => &EMPTY,
        }
    }

    /// The items of a file.
    pub fn items(&self, file: FileId) -> &[Item] {
        &self.parsed(file).items
    }

    /// The semantic model.
    pub fn model(&self) -> &Model {
        db::bundle_model(&self.db, self.bundle)
    }

    /// The diagnostics of one file, with the manifest's lint levels applied.
    pub fn diagnostics(&self, file: FileId) -> Vec<Diagnostic> {
        let Some(f) = self.source(file) else {
            return Vec::new();
        };
        let (manifest, _) = db::manifest(&self.db, self.bundle);
        let mut out = db::apply_levels(manifest, db::file_diagnostics(&self.db, self.bundle, f));
        out.sort_by_key(|d| (d.span.start, d.code));
        out
    }

    /// Whether the bundle has an error anywhere (then it does not build).
    pub fn has_errors(&self) -> bool {
        db::has_errors(db::bundle_diagnostics(&self.db, self.bundle))
    }

    /// The item of the model location `loc`.
    pub fn item(&self, loc: Loc) -> Option<&Item> {
        self.items(loc.file).get(loc.item as usize)
    }

    /// The span of the name declared at `loc`.
    pub fn decl_span(&self, loc: Loc) -> Option<FileSpan> {
        let item = self.item(loc)?;
        let span = match &item.kind {
            ItemKind::Fixture(f) => f.id.span,
            _ => db::located_span(item, loc.sub),
        };
        Some(FileSpan {
            file: loc.file,
            span,
        })
    }

    /// The source text of a span.
    pub fn slice(&self, at: FileSpan) -> &str {
        self.text(at.file).get(at.span.range()).unwrap_or("")
    }

    /// The item of `file` whose span (doc comment aside) contains `offset`.
    pub fn item_at(&self, file: FileId, offset: u32) -> Option<(u32, &Item)> {
        self.items(file)
            .iter()
            .enumerate()
            .find(|(_, i)| i.span.contains(offset))
            .map(|(n, i)| (n as u32, i))
    }
}

/// The article of the regulation, as hover and messages cite it.
pub fn cite(article: &str) -> String {
    format!("《镇江市公共数据授权运营管理暂行办法》{article}")
}

#[cfg(test)]
pub(crate) mod fixture {
    //! Multi-file fixtures written inline, with `$0` marking the cursor.

    use charter_compiler::Compiler;

    use super::{Analysis, FileId};

    /// A small bundle: grades, a catalog and a scenario.
    pub const BASE: &[(&str, &str)] = &[
        (
            "grades.charter",
            r#"/// 分级
grades {
  L1 "公开"
  L2 "内部"
  L3 "敏感"
  L4 "高敏感"
}

grade L1 allows verify, statistics, privacy_compute, export_result
grade L2 allows verify, statistics, privacy_compute
/// 敏感数据只能核验、统计和隐私计算
grade L3 allows verify, statistics, privacy_compute article "第十四条"
grade L4 allows verify, privacy_compute requires consent article "第十四条"

classify field "分类分级" article "第二十八条" {
  when tags contains "敏感个人信息" then L4
  when tags contains "商业秘密" then L3
  when tags contains "公开" then L1
  otherwise L2
}
"#,
        ),
        (
            "catalog/tax.charter",
            r#"/// 企业按月申报的纳税信息
dataset tax.enterprise_tax "企业纳税信息" {
  source "市税务局"
  domain 金融
  field credit_code "统一社会信用代码" tags "公开"
  /// 含商业秘密
  field tax_amount "纳税金额" tags "商业秘密"
  field legal_rep_id "法定代表人身份证号" tags "敏感个人信息"
}
"#,
        ),
        (
            "scenarios/finance.charter",
            r#"/// 小微企业信贷
scenario 普惠金融 "普惠金融信贷" article "第十二条" {
  domain 金融
  purpose "授信审批"
  term 2026-01-01 .. 2028-12-31
  use tax.enterprise_tax { credit_code, tax_amount } via statistics, privacy_compute requires consent
}

exit 协议期满 "授权协议期满" article "第三十二条" {
  when developer.agreement_expires <= now
  measures terminate, revoke
}
"#,
        ),
    ];

    /// The manifest of the fixtures.
    pub const MANIFEST: &str = "[bundle]\nname = \"demo\"\nversion = \"0.1.0\"\n";

    /// Builds a bundle from `BASE` with `extra` files added or replaced; returns the
    /// analysis, the id of the file holding `$0` and the cursor offset.
    pub fn with(extra: &[(&str, &str)]) -> (Compiler, Option<(String, u32)>) {
        let mut cursor = None;
        let mut files: Vec<(String, String)> = Vec::new();
        for (path, text) in BASE.iter().chain(extra.iter()) {
            let text = match text.find("$0") {
                Some(at) => {
                    cursor = Some((path.to_string(), at as u32));
                    text.replacen("$0", "", 1)
                }
                None => text.to_string(),
            };
            files.retain(|(p, _)| p != path);
            files.push((path.to_string(), text));
        }
        (Compiler::from_sources(Some(MANIFEST), files), cursor)
    }

    /// The analysis of a compiler and the file and offset of the cursor.
    pub fn analysis(extra: &[(&str, &str)]) -> (Analysis, FileId, u32) {
        let (c, cursor) = with(extra);
        let a = Analysis::new(c.db(), c.bundle());
        // Without a cursor, an id past the last file: every query on it finds nothing.
        let none = FileId::from_index(a.files().len()).unwrap_or(FileId::PRELUDE);
        let (file, offset) = match cursor {
            Some((path, off)) => (a.file_id(&path).unwrap_or(none), off),
            None => (none, 0),
        };
        (a, file, offset)
    }
}
