//! The syntax tree of a `.charter` file: plain data with byte spans, no semantics.
//!
//! Every node that a diagnostic may point at carries a [`Span`] into the text of
//! its own file. [`Item::erase_spans`] makes a copy with all spans zeroed, which the
//! semantic layer uses for values that must compare equal when only positions moved.

use std::fmt;

/// A byte range into one file's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span over `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }
    /// The span as a `usize` range.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    /// Whether `offset` lies inside the span (end inclusive, for cursors).
    pub fn contains(self, offset: u32) -> bool {
        self.start <= offset && offset <= self.end
    }
}

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name {
    /// The text, e.g. `普惠金融` or `tax.enterprise_tax`.
    pub text: String,
    /// Where it is.
    pub span: Span,
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A string literal, unescaped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Str {
    /// The unescaped value.
    pub value: String,
    /// Where it is, quotes included.
    pub span: Span,
}

/// A calendar date as written (`2026-01-01`), checked for validity by the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day, 1–31.
    pub day: u32,
}

impl Date {
    /// The same day in jiff's calendar, or `None` if that calendar has no such day (a
    /// month or day out of range, or a year outside -9999..=9999). Every date the parser
    /// builds has one: its years are four digits.
    pub fn to_civil(self) -> Option<jiff::civil::Date> {
        let year = i16::try_from(self.year).ok()?;
        let month = i8::try_from(self.month).ok()?;
        let day = i8::try_from(self.day).ok()?;
        jiff::civil::Date::new(year, month, day).ok()
    }
}

impl From<jiff::civil::Date> for Date {
    fn from(d: jiff::civil::Date) -> Self {
        // jiff's months and days are positive, so the conversions cannot fail.
        Date {
            year: i32::from(d.year()),
            month: u32::try_from(d.month()).unwrap_or(1),
            day: u32::try_from(d.day()).unwrap_or(1),
        }
    }
}

/// The unit of a duration literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    /// `days`, `天`, `日`
    Days,
    /// `months`, `个月`, `月`
    Months,
    /// `years`, `年`
    Years,
}

/// A duration as written (`90 days`, `3 years`, `3个月`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Duration {
    /// How many units.
    pub amount: i64,
    /// Which unit.
    pub unit: DurationUnit,
}

/// A declaration, with its doc comment and the span of the whole declaration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    /// The `///` lines before it, joined with newlines, without the slashes.
    pub doc: Option<String>,
    /// The whole declaration, doc comment excluded.
    pub span: Span,
    /// What it declares.
    pub kind: ItemKind,
}

/// What a declaration declares.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// `grades { L1 "公开" … }`
    Grades(Vec<GradeEntry>),
    /// `grade L3 allows verify, statistics requires consent`
    GradeRule(GradeRule),
    /// `classify field { when … then L3  otherwise L2 }`
    Classify(Classify),
    /// `domain 金融 "金融" priority`
    Domain(DomainDecl),
    /// `dataset tax.enterprise_tax "企业纳税信息" { … }`
    Dataset(Dataset),
    /// `scenario 普惠金融 "…" { … }`
    Scenario(Scenario),
    /// `admission article "第九条" { require … }`
    Admission(Admission),
    /// `exit`, `suspend` and `notice` rules
    Trigger(Trigger),
    /// `limits { max_term 3 years }`
    Limits(Vec<LimitStmt>),
    /// `test "…" { … }`
    Test(TestDecl),
    /// `fixture "dev-001" { … }`
    Fixture(Fixture),
    /// `action verify "核验"`
    Action(SimpleDecl),
    /// `measure terminate "终止协议"`
    Measure(SimpleDecl),
    /// `fact incidents_3y: int "…"`
    Fact(FactDecl),
    /// `forbid 原始数据不出域 "…" { actions export_raw }`
    Forbid(ForbidDecl),
    /// `consent required for tags "个人信息" article "第二十条"`
    Consent(ConsentDecl),
}

/// One grade inside `grades { }`; its order is its position.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GradeEntry {
    /// Doc comment.
    pub doc: Option<String>,
    /// `L1`
    pub name: Name,
    /// `"公开"`
    pub title: Option<Str>,
}

/// `grade G allows A, B [requires consent] [article "…"]`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GradeRule {
    /// The grade.
    pub grade: Name,
    /// The actions it allows.
    pub allows: Vec<Name>,
    /// Whether those actions need the data subject's consent.
    pub requires_consent: Option<Span>,
    /// The article cited.
    pub article: Option<Str>,
}

/// `classify field { … }`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Classify {
    /// Title.
    pub title: Option<Str>,
    /// Article.
    pub article: Option<Str>,
    /// `when COND then GRADE`, in order.
    pub arms: Vec<ClassifyArm>,
    /// `otherwise GRADE`.
    pub otherwise: Option<Name>,
}

/// `when COND then GRADE`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClassifyArm {
    /// Doc comment.
    pub doc: Option<String>,
    /// The condition, over `tags`, `name` and `dataset.*`.
    pub when: Expr,
    /// The grade it assigns.
    pub grade: Name,
    /// The whole arm.
    pub span: Span,
}

/// `domain NAME ["title"] [priority] [article "…"]`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DomainDecl {
    /// Name.
    pub name: Name,
    /// Title.
    pub title: Option<Str>,
    /// Whether it is a priority domain (Art. 12).
    pub priority: bool,
    /// Article.
    pub article: Option<Str>,
}

/// `dataset PATH ["title"] { … }`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dataset {
    /// Dotted name.
    pub name: Name,
    /// Title.
    pub title: Option<Str>,
    /// `source "市税务局"`
    pub source: Option<Str>,
    /// `domain 金融`
    pub domain: Option<Name>,
    /// Dataset-level tags.
    pub tags: Vec<Str>,
    /// Fields.
    pub fields: Vec<FieldDecl>,
}

/// `field NAME ["title"] [tags "…", …] [grade G]`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldDecl {
    /// Doc comment.
    pub doc: Option<String>,
    /// Name.
    pub name: Name,
    /// Title.
    pub title: Option<Str>,
    /// Tags.
    pub tags: Vec<Str>,
    /// An explicit grade.
    pub grade: Option<Name>,
    /// The whole field.
    pub span: Span,
}

/// `scenario NAME ["title"] [article "…"] { … }`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// Name.
    pub name: Name,
    /// Title.
    pub title: Option<Str>,
    /// Article.
    pub article: Option<Str>,
    /// `domain 金融`
    pub domain: Option<Name>,
    /// `purpose "…"`
    pub purpose: Option<Str>,
    /// `term A .. B`
    pub term: Option<Term>,
    /// `require COND "title"`: eligibility of developers for this scenario.
    pub requires: Vec<Require>,
    /// `use DATASET { fields } via actions`
    pub uses: Vec<Use>,
}

/// `term A .. B`, both days included.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Term {
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
    /// The whole `term` statement.
    pub span: Span,
    /// Whether both dates exist; when not, the error is already reported.
    pub valid: bool,
}

/// `require COND ["title"] [article "…"]`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Require {
    /// Doc comment.
    pub doc: Option<String>,
    /// The condition the developer must meet.
    pub cond: Expr,
    /// Title.
    pub title: Option<Str>,
    /// Article.
    pub article: Option<Str>,
    /// The whole statement.
    pub span: Span,
}

/// The field list of a scope or an expectation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldSet {
    /// `{ * }`
    All(Span),
    /// `{ a, b }`
    Some(Vec<Name>),
}

/// `use DATASET { fields } via actions [requires consent]`: one scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Use {
    /// The dataset.
    pub dataset: Name,
    /// The fields.
    pub fields: FieldSet,
    /// The actions.
    pub actions: Vec<Name>,
    /// `requires consent`.
    pub requires_consent: Option<Span>,
    /// The whole statement.
    pub span: Span,
}

/// `admission ["title"] [article "…"] { require … }`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Admission {
    /// Title.
    pub title: Option<Str>,
    /// Article.
    pub article: Option<Str>,
    /// Requirements.
    pub requires: Vec<Require>,
    /// The `admission` keyword.
    pub keyword: Span,
}

/// Which kind of trigger rule.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    /// Art. 32: the authorization ends.
    Exit,
    /// Art. 30: service is suspended until rectified.
    Suspend,
    /// Advisory; never changes a decision.
    Notice,
}

impl TriggerKind {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            TriggerKind::Exit => "exit",
            TriggerKind::Suspend => "suspend",
            TriggerKind::Notice => "notice",
        }
    }
}

/// `exit|suspend|notice NAME ["title"] [article "…"] { when COND [measures …] }`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Trigger {
    /// Which kind.
    pub kind: TriggerKind,
    /// Name.
    pub name: Name,
    /// Title.
    pub title: Option<Str>,
    /// Article.
    pub article: Option<Str>,
    /// The condition.
    pub when: Expr,
    /// The measures to carry out.
    pub measures: Vec<Name>,
    /// The `measures` statement, if any.
    pub measures_span: Option<Span>,
}

/// `max_term 3 years` or `reapply_window 3 months`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LimitStmt {
    /// `max_term` or `reapply_window`.
    pub key: Name,
    /// The duration.
    pub value: Duration,
    /// The whole statement.
    pub span: Span,
}

/// `action NAME "title"` and `measure NAME "title"`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SimpleDecl {
    /// Name.
    pub name: Name,
    /// Title.
    pub title: Option<Str>,
}

/// A type as written in a `fact` declaration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TypeExpr {
    /// `int`, `bool`, `string`, `date`, `duration`, `scenario`
    Named(Name),
    /// `set<T>`
    Set(Name),
}

/// `fact NAME: TYPE "title"`: a developer fact the platform supplies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FactDecl {
    /// Name, used as `developer.NAME`.
    pub name: Name,
    /// Type.
    pub ty: TypeExpr,
    /// Span of the type.
    pub ty_span: Span,
    /// Title.
    pub title: Option<Str>,
}

/// `forbid NAME ["title"] [article "…"] { actions A, B [when COND] }`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ForbidDecl {
    /// Name.
    pub name: Name,
    /// Title.
    pub title: Option<Str>,
    /// Article.
    pub article: Option<Str>,
    /// The actions forbidden.
    pub actions: Vec<Name>,
    /// When the forbid applies; always when absent.
    pub when: Option<Expr>,
}

/// `consent required for tags "…", … [article "…"]`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsentDecl {
    /// Field tags whose use needs the data subject's consent.
    pub tags: Vec<Str>,
    /// Article.
    pub article: Option<Str>,
}

/// A value in a fact block: `agreement_expires = 2028-06-30`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// `true`, `false`
    Bool(bool, Span),
    /// `3`
    Int(i64, Span),
    /// `"…"`
    Str(Str),
    /// `2026-01-01`
    Date(Date, Span),
    /// `90 days`
    Duration(Duration, Span),
    /// A bare name, e.g. a scenario.
    Name(Name),
    /// `[a, b]`
    List(Vec<Value>, Span),
}

impl Value {
    /// Where the value is.
    pub fn span(&self) -> Span {
        match self {
            Value::Bool(_, s)
            | Value::Int(_, s)
            | Value::Date(_, s)
            | Value::Duration(_, s)
            | Value::List(_, s) => *s,
            Value::Str(s) => s.span,
            Value::Name(n) => n.span,
        }
    }
}

/// `NAME = VALUE`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FactAssign {
    /// The fact.
    pub name: Name,
    /// The value.
    pub value: Value,
}

/// `fixture "dev-001" ["title"] { … }`: a named developer shared by tests.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fixture {
    /// The developer id.
    pub id: Str,
    /// Title.
    pub title: Option<Str>,
    /// Its facts.
    pub facts: Vec<FactAssign>,
}

/// `test "name" { … }`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TestDecl {
    /// The test's name.
    pub name: Str,
    /// `given developer "id" { … }`
    pub givens: Vec<Given>,
    /// `at DATE`
    pub at: Option<(Date, Span)>,
    /// `expect …`
    pub expects: Vec<Expect>,
}

/// `given developer "id" [{ … }]`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Given {
    /// The developer id.
    pub id: Str,
    /// Facts, over the fixture's where one exists.
    pub facts: Vec<FactAssign>,
    /// The whole statement.
    pub span: Span,
}

/// What a test expects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expect {
    /// `expect allow|deny ACTION DATASET [{ fields }] [by "dev"] in SCENARIO …`
    Decision(ExpectDecision),
    /// `expect exit|suspend|notice NAME [for "dev"] [measures …]`
    Trigger(ExpectTrigger),
}

/// `expect allow|deny …`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExpectDecision {
    /// Allow or deny.
    pub allow: bool,
    /// The action.
    pub action: Name,
    /// The dataset.
    pub dataset: Name,
    /// The fields.
    pub fields: Option<FieldSet>,
    /// The developer; the only `given` one when absent.
    pub developer: Option<Str>,
    /// The scenario.
    pub scenario: Name,
    /// `with consent ["REF"]`
    pub consent: Option<Option<Str>>,
    /// `because RULE`
    pub because: Option<RuleRef>,
    /// The whole statement.
    pub span: Span,
}

/// A reference to a rule: its name or its id string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RuleRef {
    /// `because 协议期满`
    Name(Name),
    /// `because "scenario/普惠金融/use/1"`
    Id(Str),
}

/// `expect exit|suspend|notice NAME …`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExpectTrigger {
    /// Which kind.
    pub kind: TriggerKind,
    /// The rule.
    pub name: Name,
    /// The developer.
    pub developer: Option<Str>,
    /// The measures expected.
    pub measures: Vec<Name>,
    /// The whole statement.
    pub span: Span,
}

/// An expression.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// Binary operators. `and` and `or` are not among them: a chain of either is one
/// [`ExprKind::And`] or [`ExprKind::Or`] node, so that a chain of any length is one
/// level deep for every pass that walks the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`
    Contains,
    /// `in`
    In,
    /// `+`
    Add,
    /// `-`
    Sub,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Contains => "contains",
            BinOp::In => "in",
            BinOp::Add => "+",
            BinOp::Sub => "-",
        }
    }
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExprKind {
    /// `true`, `false`
    Bool(bool),
    /// `42`
    Int(i64),
    /// `"…"`
    Str(String),
    /// `2026-01-01`
    Date(Date),
    /// `90 days`
    Duration(Duration),
    /// `developer.incidents_3y`, `now`, `tags`, `dataset.source`
    Path(Name),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `not e`
    Not(Box<Expr>),
    /// `a OP b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a and b and …`: two or more conjuncts, in order.
    And(Vec<Expr>),
    /// `a or b or …`: two or more disjuncts, in order.
    Or(Vec<Expr>),
    /// `( e )`
    Paren(Box<Expr>),
}

impl Expr {
    /// Calls `f` on this expression and every sub-expression, parents first, in source
    /// order. Iterative, so it needs no stack in proportion to the tree's depth.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        let mut stack: Vec<&Expr> = vec![self];
        while let Some(e) = stack.pop() {
            f(e);
            match &e.kind {
                ExprKind::List(items) | ExprKind::And(items) | ExprKind::Or(items) => {
                    stack.extend(items.iter().rev())
                }
                ExprKind::Not(e) | ExprKind::Paren(e) => stack.push(e),
                ExprKind::Binary(_, a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                _ => {}
            }
        }
    }

    /// A copy with every span set to zero.
    pub fn erase_spans(&self) -> Expr {
        let kind = match &self.kind {
            ExprKind::Path(n) => ExprKind::Path(erase_name(n)),
            ExprKind::List(items) => ExprKind::List(items.iter().map(Expr::erase_spans).collect()),
            ExprKind::And(items) => ExprKind::And(items.iter().map(Expr::erase_spans).collect()),
            ExprKind::Or(items) => ExprKind::Or(items.iter().map(Expr::erase_spans).collect()),
            ExprKind::Not(e) => ExprKind::Not(Box::new(e.erase_spans())),
            ExprKind::Paren(e) => ExprKind::Paren(Box::new(e.erase_spans())),
            ExprKind::Binary(op, a, b) => {
                ExprKind::Binary(*op, Box::new(a.erase_spans()), Box::new(b.erase_spans()))
            }
            other => other.clone(),
        };
        Expr {
            kind,
            span: Span::default(),
        }
    }
}

/// A copy of a name without its position.
pub fn erase_name(n: &Name) -> Name {
    Name {
        text: n.text.clone(),
        span: Span::default(),
    }
}
