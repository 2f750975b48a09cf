//! Generator of large synthetic bundles with realistic shapes, for benchmarks and tests.
//!
//! The bundle looks like a city's catalog of public data: datasets spread over about ten
//! agencies (`市税务局`, `市人力资源和社会保障局`, …), fields tagged `个人信息`,
//! `敏感个人信息` or `商业秘密` in realistic proportions, and scenarios in the priority
//! domains of Art.12 that use a few fields of a few datasets each.
//!
//! Every choice comes from a small seeded pseudo-random generator, so the same
//! [`SynthOptions`] always give byte-identical files. The generator computes each field's
//! grade the same way the generated `classify` block does and only grants actions that
//! grade allows, so a generated bundle checks without errors or warnings.

use std::fmt::Write as _;
use std::path::Path;

/// Options of the generator.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// Number of scenarios.
    pub scenarios: usize,
    /// Number of datasets; 0 means `max(12, scenarios / 2)`.
    pub datasets: usize,
    /// Fields per dataset (0 is treated as 1).
    pub fields_per_dataset: usize,
    /// Scenarios per file (0 is treated as 1).
    pub scenarios_per_file: usize,
    /// Seed of the pseudo-random choices.
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            scenarios: 100,
            datasets: 0,
            fields_per_dataset: 10,
            scenarios_per_file: 50,
            seed: 1,
        }
    }
}

impl SynthOptions {
    /// The number of datasets these options produce.
    fn dataset_count(&self) -> usize {
        if self.datasets == 0 {
            (self.scenarios / 2).max(12)
        } else {
            self.datasets
        }
    }
}

/// One generated file, with a path relative to the bundle root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthFile {
    /// Path relative to the bundle root, with `/` separators (`catalog/tax.charter`).
    pub path: String,
    /// Content of the file.
    pub text: String,
}

/// Generates the files of a bundle (charter.toml included).
pub fn generate(opts: &SynthOptions) -> Vec<SynthFile> {
    let catalog = build_catalog(opts);
    let scenarios = build_scenarios(opts, &catalog);

    let mut files = vec![
        SynthFile {
            path: "charter.toml".to_string(),
            text: manifest_text(opts),
        },
        SynthFile {
            path: "grades.charter".to_string(),
            text: grades_text(),
        },
        SynthFile {
            path: "rules.charter".to_string(),
            text: rules_text(),
        },
    ];

    for (index, agency) in AGENCIES.iter().enumerate() {
        let mine: Vec<&Dataset> = catalog.iter().filter(|d| d.agency == index).collect();
        if mine.is_empty() {
            continue;
        }
        files.push(SynthFile {
            path: format!("catalog/{}.charter", agency.code),
            text: catalog_text(agency, &mine),
        });
    }

    let per_file = opts.scenarios_per_file.max(1);
    for (number, chunk) in scenarios.chunks(per_file).enumerate() {
        files.push(SynthFile {
            path: format!("scenarios/scenarios_{:03}.charter", number + 1),
            text: scenarios_text(chunk, &catalog),
        });
    }
    files
}

/// Writes the generated bundle below `dir` (created if missing).
pub fn write_bundle(opts: &SynthOptions, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for file in generate(opts) {
        let mut target = dir.to_path_buf();
        for segment in file.path.split('/') {
            target.push(segment);
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, file.text.as_bytes())?;
    }
    Ok(())
}

/// Compiles the generated bundle in memory (what `charter bench` and the tests that
/// want a large bundle use); the warnings, which a generated bundle has none of, are dropped.
pub fn compile(opts: &SynthOptions) -> Result<crate::CompiledBundle, Vec<crate::Diagnostic>> {
    let mut manifest = None;
    let mut sources = Vec::new();
    for f in generate(opts) {
        if f.path == "charter.toml" {
            manifest = Some(f.text);
        } else {
            sources.push((f.path, f.text));
        }
    }
    crate::Compiler::from_sources(manifest.as_deref(), sources)
        .build()
        .map(|(bundle, _)| bundle)
}

/// Facts of a developer in good standing, for any bundle: the prelude's facts get
/// compliant values (`expires` as the agreement's end), other facts a neutral value of
/// their type.
pub fn good_facts(
    catalog: &charter_bundle::Catalog,
    scenarios: &[&str],
    expires: &str,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{json, Value as Json};
    let mut f = serde_json::Map::new();
    for (name, fact) in &catalog.facts {
        let v = match name.as_str() {
            "scenarios" => json!(scenarios),
            "agreement_starts" => json!("2024-01-01"),
            "agreement_expires" => json!(expires),
            "evaluation_score" => json!(85),
            "has_professional_team"
            | "has_security_officer"
            | "has_security_system"
            | "compliance_pledged"
            | "operating_normally" => json!(true),
            _ => match fact.ty.as_str() {
                "bool" => json!(false),
                "int" | "nat" | "duration" => json!(0),
                "date" => json!(expires),
                "string" => json!(""),
                t if t.starts_with("set<") => json!([]),
                _ => Json::Null,
            },
        };
        f.insert(name.clone(), v);
    }
    f
}

// ------------------------------------------------------------------ pseudo-random numbers

/// SplitMix64: tiny, fast, and good enough for picking shapes.
struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for one stream of choices; `stream` keeps the catalog and the
    /// scenarios independent, so adding scenarios does not reshuffle the catalog.
    fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng {
            state: seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
        };
        // Mix the seed once so that nearby seeds give unrelated sequences.
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; 0 when `n` is 0.
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `lo..=hi` (`lo` when `hi < lo`).
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of `items`, or `None` when it is empty.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let i = self.below(items.len());
        items.get(i)
    }

    /// `k` distinct indices in `0..n` (fewer when `n < k`), in the order drawn.
    fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut out: Vec<usize> = Vec::with_capacity(k);
        while out.len() < k {
            let i = self.below(n);
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }
}

// ------------------------------------------------------------------ vocabulary

/// A data-providing agency of the city.
struct Agency {
    /// ASCII code, first segment of dataset names and catalog file name.
    code: &'static str,
    /// Chinese name, the `source` of its datasets.
    name: &'static str,
    /// Domains its datasets belong to.
    domains: &'static [&'static str],
    /// Dataset templates: ASCII stem and Chinese title.
    datasets: &'static [(&'static str, &'static str)],
}

const AGENCIES: &[Agency] = &[
    Agency {
        code: "tax",
        name: "市税务局",
        domains: &["金融", "信用", "商贸"],
        datasets: &[
            ("enterprise_tax", "企业纳税信息"),
            ("tax_credit", "纳税信用等级"),
            ("invoice_summary", "发票开具汇总"),
            ("tax_registration", "税务登记信息"),
        ],
    },
    Agency {
        code: "hrss",
        name: "市人力资源和社会保障局",
        domains: &["社保", "就业"],
        datasets: &[
            ("social_insurance", "社会保险参保信息"),
            ("employment_registration", "就业登记信息"),
            ("pension_payment", "养老金发放信息"),
            ("skill_certificate", "职业技能等级证书"),
        ],
    },
    Agency {
        code: "market",
        name: "市市场监督管理局",
        domains: &["商贸", "信用", "制造"],
        datasets: &[
            ("business_registration", "市场主体登记信息"),
            ("admin_penalty", "行政处罚信息"),
            ("product_quality", "产品质量抽检结果"),
            ("food_license", "食品经营许可信息"),
        ],
    },
    Agency {
        code: "health",
        name: "市卫生健康委员会",
        domains: &["卫生"],
        datasets: &[
            ("outpatient_record", "门诊就诊记录"),
            ("vaccination", "疫苗接种信息"),
            ("birth_certificate", "出生医学证明信息"),
            ("medical_institution", "医疗机构资源信息"),
        ],
    },
    Agency {
        code: "transport",
        name: "市交通运输局",
        domains: &["交通", "物流"],
        datasets: &[
            ("operating_vehicle", "营运车辆信息"),
            ("freight_waybill", "货运电子运单"),
            ("bus_card", "公交刷卡记录"),
            ("road_traffic", "道路运行监测"),
        ],
    },
    Agency {
        code: "public_security",
        name: "市公安局",
        domains: &["公共安全", "交通"],
        datasets: &[
            ("household_registration", "户籍人口信息"),
            ("vehicle_registration", "机动车登记信息"),
            ("traffic_violation", "交通违法记录"),
            ("hotel_checkin", "旅馆住宿登记"),
        ],
    },
    Agency {
        code: "ecology",
        name: "市生态环境局",
        domains: &["环保", "能源"],
        datasets: &[
            ("discharge_permit", "排污许可信息"),
            ("air_quality", "空气质量监测"),
            ("emission_monitoring", "企业排放在线监测"),
            ("env_penalty", "环境行政处罚"),
        ],
    },
    Agency {
        code: "agriculture",
        name: "市农业农村局",
        domains: &["农业"],
        datasets: &[
            ("farm_subsidy", "农业补贴发放信息"),
            ("land_contract", "土地承包经营权信息"),
            ("produce_traceability", "农产品质量追溯"),
            ("cooperative", "农民专业合作社信息"),
        ],
    },
    Agency {
        code: "culture_tourism",
        name: "市文化广电和旅游局",
        domains: &["文旅", "体育"],
        datasets: &[
            ("scenic_visitors", "景区客流统计"),
            ("travel_agency", "旅行社经营信息"),
            ("cultural_venue", "文化场馆预约信息"),
            ("sports_venue", "体育场馆开放信息"),
        ],
    },
    Agency {
        code: "emergency",
        name: "市应急管理局",
        domains: &["应急", "公共安全", "制造"],
        datasets: &[
            ("hazardous_enterprise", "危险化学品企业信息"),
            ("safety_inspection", "安全生产检查记录"),
            ("disaster_report", "自然灾害灾情报告"),
            ("rescue_team", "应急救援队伍信息"),
        ],
    },
];

/// The priority domains of the prelude (Art.12).
const DOMAINS: &[&str] = &[
    "金融",
    "信用",
    "交通",
    "卫生",
    "科技",
    "教育",
    "就业",
    "社保",
    "文旅",
    "体育",
    "能源",
    "环保",
    "农业",
    "商贸",
    "物流",
    "制造",
    "应急",
    "公共安全",
];

/// Scenario titles by domain (same order as [`DOMAINS`]).
const SCENARIO_TITLES: &[&[&str]] = &[
    &["普惠金融信贷风控", "小微企业授信评估", "供应链金融核验"],
    &["企业信用画像", "信用修复辅助", "信易贷联合评估"],
    &["公交线网优化", "网约车合规核验", "城市通勤分析"],
    &["商业健康险理赔核验", "慢病管理分析", "医疗资源配置评估"],
    &["科技型企业画像", "高新技术企业认定辅助", "科创企业成长评估"],
    &["学位资源预测", "职业教育质量评估", "教育资源均衡分析"],
    &["灵活就业监测", "人岗智能匹配", "重点群体就业帮扶"],
    &["社保待遇资格认证", "参保扩面分析", "养老服务需求预测"],
    &["景区客流预测", "文旅消费分析", "智慧旅游服务"],
    &["全民健身设施规划", "体育消费券核验", "赛事客流分析"],
    &["企业能耗监测", "分布式光伏评估", "碳排放核算"],
    &["企业环境信用评价", "污染源智能监管", "环境风险预警"],
    &["农业保险精准承保", "涉农信贷评估", "农产品产销对接"],
    &["商圈活力分析", "外贸企业画像", "消费趋势监测"],
    &["冷链物流追溯", "货运车辆调度优化", "物流园区运行监测"],
    &["智能制造诊断", "产业链图谱", "工业企业效益评价"],
    &["安全生产风险预警", "防汛应急调度", "应急物资保障分析"],
    &["重点场所客流预警", "电信诈骗风险提示", "社会治安态势分析"],
];

/// Purpose templates; `{}` is replaced by the scenario title.
const PURPOSES: &[&str] = &[
    "依托授权数据开展{}，提升公共服务与市场服务效率",
    "通过隐私计算等方式支撑{}，实现数据可用不可见",
    "为{}提供核验与统计分析服务，不向第三方提供原始数据",
    "在授权运营域内建设{}模型，结果经审核后使用",
];

/// A protected tag (prelude `consent required for tags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Personal,
    Sensitive,
    Secret,
}

impl Tag {
    fn label(self) -> &'static str {
        match self {
            Tag::Personal => "个人信息",
            Tag::Sensitive => "敏感个人信息",
            Tag::Secret => "商业秘密",
        }
    }

    /// The grade the generated `classify` block gives a field with this tag.
    fn grade(self) -> Grade {
        match self {
            Tag::Sensitive => Grade::L4,
            Tag::Personal | Tag::Secret => Grade::L3,
        }
    }
}

/// The grades a generated field can get (no field is classified L1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Grade {
    L2,
    L3,
    L4,
}

/// Actions of grades L1 and L2.
const OPEN_ACTIONS: &[&str] = &[
    "verify",
    "query_masked",
    "statistics",
    "privacy_compute",
    "sandbox_model",
    "export_result",
];
/// Actions of grade L3.
const L3_ACTIONS: &[&str] = &["verify", "statistics", "privacy_compute", "sandbox_model"];
/// Actions of grade L4.
const L4_ACTIONS: &[&str] = &["verify", "privacy_compute"];

impl Grade {
    /// The actions the generated grade rules allow. Each grade's set contains the next
    /// one's, so the actions allowed for a set of fields are those of its highest grade.
    fn actions(self) -> &'static [&'static str] {
        match self {
            Grade::L2 => OPEN_ACTIONS,
            Grade::L3 => L3_ACTIONS,
            Grade::L4 => L4_ACTIONS,
        }
    }
}

/// Field templates: ASCII name and Chinese title, one pool per tag.
const PERSONAL_FIELDS: &[(&str, &str)] = &[
    ("person_name", "姓名"),
    ("id_number", "公民身份号码"),
    ("mobile_phone", "手机号码"),
    ("home_address", "居住地址"),
    ("birth_date", "出生日期"),
    ("gender", "性别"),
    ("email", "电子邮箱"),
    ("employer_name", "工作单位"),
    ("education_level", "学历"),
    ("marital_status", "婚姻状况"),
    ("household_address", "户籍地址"),
    ("license_plate", "车牌号码"),
];
const SENSITIVE_FIELDS: &[(&str, &str)] = &[
    ("health_status", "健康状况"),
    ("diagnosis", "诊断结果"),
    ("bank_account", "银行账号"),
    ("personal_income", "个人收入"),
    ("criminal_record", "违法犯罪记录"),
    ("face_image", "人脸图像"),
    ("location_track", "行踪轨迹"),
    ("medical_insurance_no", "医保卡号"),
    ("disability_level", "残疾等级"),
];
const SECRET_FIELDS: &[(&str, &str)] = &[
    ("revenue", "营业收入"),
    ("tax_amount", "纳税金额"),
    ("total_profit", "利润总额"),
    ("contract_amount", "合同金额"),
    ("customer_count", "客户数量"),
    ("cost_structure", "成本构成"),
    ("supplier_list", "供应商名单"),
    ("production_capacity", "产能数据"),
    ("invoice_amount", "发票金额"),
];
const PLAIN_FIELDS: &[(&str, &str)] = &[
    ("record_id", "记录编号"),
    ("credit_code", "统一社会信用代码"),
    ("org_name", "单位名称"),
    ("region_code", "行政区划代码"),
    ("industry_code", "行业代码"),
    ("record_date", "登记日期"),
    ("record_status", "状态"),
    ("updated_at", "更新时间"),
    ("category", "类别"),
    ("amount_range", "金额区间"),
    ("approval_number", "批准文号"),
    ("valid_until", "有效期至"),
    ("data_source", "数据来源"),
    ("street_name", "所属街道"),
];

/// Conditions on developer facts a scenario may add, with their titles.
const SCENARIO_REQUIRES: &[(&str, &str)] = &[
    (
        "developer.evaluation_score >= 70",
        "最近一次绩效评价不低于70分",
    ),
    ("developer.incidents_3y == 0", "近3年无被通报的安全事件"),
    ("developer.has_security_officer", "落实数据安全负责人"),
    ("developer.open_incidents == 0", "无未整改的安全问题"),
    ("developer.warnings < 2", "被提醒或约谈少于2次"),
];

// ------------------------------------------------------------------ model

struct Field {
    name: String,
    title: &'static str,
    tag: Option<Tag>,
}

impl Field {
    fn grade(&self) -> Grade {
        self.tag.map_or(Grade::L2, Tag::grade)
    }
}

struct Dataset {
    agency: usize,
    name: String,
    title: String,
    domain: &'static str,
    fields: Vec<Field>,
}

struct Use {
    dataset: usize,
    fields: Vec<usize>,
    actions: Vec<&'static str>,
    consent: bool,
}

struct Scenario {
    name: String,
    title: String,
    domain: &'static str,
    purpose: String,
    start: (u32, u32, u32),
    end: (u32, u32, u32),
    require: Option<(&'static str, &'static str)>,
    uses: Vec<Use>,
}

fn build_catalog(opts: &SynthOptions) -> Vec<Dataset> {
    let mut rng = Rng::new(opts.seed, 1);
    let count = opts.dataset_count();
    let fields_per_dataset = opts.fields_per_dataset.max(1);
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        // Every agency gets one dataset before any gets a second; the rest are random.
        let agency = if index < AGENCIES.len() {
            index
        } else {
            rng.below(AGENCIES.len())
        };
        let Some(spec) = AGENCIES.get(agency) else {
            continue;
        };
        let (stem, base_title) = rng
            .pick(spec.datasets)
            .copied()
            .unwrap_or(("dataset", "数据集"));
        let domain = rng.pick(spec.domains).copied().unwrap_or("金融");
        let number = index + 1;
        out.push(Dataset {
            agency,
            name: format!("{}.{}_{:04}", spec.code, stem, number),
            title: format!("{base_title}（{number:04}）"),
            domain,
            fields: build_fields(&mut rng, fields_per_dataset),
        });
    }
    out
}

fn build_fields(rng: &mut Rng, count: usize) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::with_capacity(count);
    for _ in 0..count {
        let roll = rng.below(100);
        let (tag, pool) = if roll < 30 {
            (Some(Tag::Personal), PERSONAL_FIELDS)
        } else if roll < 40 {
            (Some(Tag::Sensitive), SENSITIVE_FIELDS)
        } else if roll < 50 {
            (Some(Tag::Secret), SECRET_FIELDS)
        } else {
            (None, PLAIN_FIELDS)
        };
        // Prefer a template the dataset does not have yet; number it only when the
        // pool is exhausted (wide datasets).
        let unused: Vec<(&'static str, &'static str)> = pool
            .iter()
            .copied()
            .filter(|(stem, _)| !fields.iter().any(|f| f.name == *stem))
            .collect();
        let choice = if unused.is_empty() {
            rng.pick(pool).copied()
        } else {
            rng.pick(&unused).copied()
        };
        let (stem, title) = choice.unwrap_or(("field", "字段"));
        let mut name = stem.to_string();
        let mut suffix = 2;
        while fields.iter().any(|f| f.name == name) {
            name = format!("{stem}_{suffix}");
            suffix += 1;
        }
        fields.push(Field { name, title, tag });
    }
    fields
}

fn build_scenarios(opts: &SynthOptions, catalog: &[Dataset]) -> Vec<Scenario> {
    let mut rng = Rng::new(opts.seed, 2);
    let mut out = Vec::with_capacity(opts.scenarios);
    for index in 0..opts.scenarios {
        let number = index + 1;
        let domain_index = rng.below(DOMAINS.len());
        let domain = DOMAINS.get(domain_index).copied().unwrap_or("金融");
        let base_title = SCENARIO_TITLES
            .get(domain_index)
            .and_then(|titles| rng.pick(titles))
            .copied()
            .unwrap_or("数据应用");
        let purpose = rng
            .pick(PURPOSES)
            .copied()
            .unwrap_or("{}")
            .replace("{}", base_title);

        // A term of 12 to 33 months, well within the 3 years of Art.8.
        let year = 2025 + rng.below(3) as u32;
        let month = 1 + rng.below(12) as u32;
        let months = rng.between(12, 33) as u32;
        let last = month + months - 1; // months counted from January of `year`, 1-based
        let end_year = year + (last - 1) / 12;
        let end_month = (last - 1) % 12 + 1;
        let end = (end_year, end_month, last_day(end_year, end_month));

        let require = if rng.chance(25) {
            rng.pick(SCENARIO_REQUIRES).copied()
        } else {
            None
        };

        let uses = build_uses(&mut rng, catalog, domain);
        out.push(Scenario {
            name: format!("场景_{number:04}"),
            title: format!("{base_title}（{number:04}）"),
            domain,
            purpose,
            start: (year, month, 1),
            end,
            require,
            uses,
        });
    }
    out
}

fn build_uses(rng: &mut Rng, catalog: &[Dataset], domain: &str) -> Vec<Use> {
    if catalog.is_empty() {
        return Vec::new();
    }
    let wanted = rng.between(1, 4).min(catalog.len());
    let same_domain: Vec<usize> = catalog
        .iter()
        .enumerate()
        .filter(|(_, d)| d.domain == domain)
        .map(|(i, _)| i)
        .collect();
    let mut chosen: Vec<usize> = Vec::with_capacity(wanted);
    while chosen.len() < wanted {
        // Scenarios mostly use data of their own domain, with some cross-domain fusion.
        let candidate = if !same_domain.is_empty() && rng.chance(60) {
            rng.pick(&same_domain).copied().unwrap_or(0)
        } else {
            rng.below(catalog.len())
        };
        if !chosen.contains(&candidate) {
            chosen.push(candidate);
        }
    }

    let mut uses = Vec::with_capacity(chosen.len());
    for dataset_index in chosen {
        let Some(dataset) = catalog.get(dataset_index) else {
            continue;
        };
        let wanted_fields = rng.between(1, 5);
        let mut fields = rng.distinct(dataset.fields.len(), wanted_fields);
        fields.sort_unstable();
        let chosen_fields: Vec<&Field> = fields
            .iter()
            .filter_map(|&i| dataset.fields.get(i))
            .collect();
        let grade = chosen_fields
            .iter()
            .map(|f| f.grade())
            .max()
            .unwrap_or(Grade::L2);
        let consent = chosen_fields.iter().any(|f| f.tag.is_some());
        let allowed = grade.actions();
        let wanted_actions = rng.between(1, 2);
        let mut picks = rng.distinct(allowed.len(), wanted_actions);
        picks.sort_unstable();
        let actions: Vec<&'static str> = picks
            .iter()
            .filter_map(|&i| allowed.get(i).copied())
            .collect();
        if fields.is_empty() || actions.is_empty() {
            continue;
        }
        uses.push(Use {
            dataset: dataset_index,
            fields,
            actions,
            consent,
        });
    }
    uses
}

/// The last day of `month` in `year`, by jiff's calendar (31 for a month it has not).
fn last_day(year: u32, month: u32) -> u32 {
    let first = i16::try_from(year)
        .ok()
        .zip(i8::try_from(month).ok())
        .and_then(|(y, m)| jiff::civil::Date::new(y, m, 1).ok());
    first.map_or(31, |d| u32::try_from(d.days_in_month()).unwrap_or(31))
}

// ------------------------------------------------------------------ text

const HEADER: &str = "// Generated by `charter synth`; synthetic data for benchmarks and tests.\n";

fn manifest_text(opts: &SynthOptions) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "[bundle]");
    let _ = writeln!(s, "name = \"synth\"");
    let _ = writeln!(s, "version = \"0.1.0\"");
    let _ = writeln!(
        s,
        "title = \"合成公共数据授权运营规则（{} 个场景，种子 {}）\"",
        opts.scenarios, opts.seed
    );
    s
}

fn grades_text() -> String {
    let mut s = String::from(HEADER);
    s.push_str(
        "
/// 数据分级：从低到高
grades {
  L1 \"公开\"
  L2 \"内部\"
  L3 \"敏感\"
  L4 \"高敏感\"
}

/// 按字段标签定级：取所有成立分支中的最高级别
classify field \"按标签定级\" {
  when tags contains \"敏感个人信息\" then L4
  when tags contains \"个人信息\" then L3
  when tags contains \"商业秘密\" then L3
  otherwise L2
}

grade L1 allows verify, query_masked, statistics, privacy_compute, sandbox_model, export_result
grade L2 allows verify, query_masked, statistics, privacy_compute, sandbox_model, export_result
grade L3 allows verify, statistics, privacy_compute, sandbox_model
grade L4 allows verify, privacy_compute requires consent
",
    );
    s
}

fn rules_text() -> String {
    let mut s = String::from(HEADER);
    s.push_str(
        "
/// 二级开发主体准入条件
admission \"准入条件\" article \"第九条\" {
  require not developer.dishonest_listed and not developer.major_tax_violation and not developer.serious_dishonest and not developer.serious_illegal_record \"信用良好，无严重违法失信记录\"
  require developer.has_professional_team \"具备专业团队和服务能力\"
  require developer.has_security_officer and developer.has_security_system and developer.incidents_3y == 0 \"数据安全保障到位\"
}

/// 授权协议期满
exit 协议期满 \"授权协议期满\" article \"第三十二条\" {
  when now > developer.agreement_expires
  measures terminate, revoke
}

/// 主体申请提前终止
exit 申请终止 \"因自身原因申请提前终止协议\" article \"第三十二条\" {
  when developer.termination_requested
  measures terminate, revoke, delist
}

/// 违反协议约定
exit 违反协议 \"违反协议约定\" article \"第三十二条\" {
  when developer.agreement_breaches >= 1
  measures terminate, revoke, delist, destroy
}

/// 评估较差且约谈后未改善
exit 评估较差 \"评估较差且约谈后未改善\" article \"第三十二条\" {
  when developer.evaluation_score < 60 and developer.warnings >= 1 and not developer.improved_after_warning
  measures terminate, revoke, delist
}

/// 政策变化导致资格取消
exit 资格取消 \"主体资格因政策变化被取消\" article \"第三十二条\" {
  when developer.qualification_revoked
  measures terminate, revoke
}

/// 其他违法违规情形
exit 违法违规 \"其他违法违规情形\" article \"第三十二条\" {
  when developer.legal_violations > 0
  measures terminate, revoke, delist, destroy
}

/// 存在安全隐患或不合规行为
suspend 安全隐患 \"存在安全隐患或不合规行为\" article \"第三十条\" {
  when developer.open_incidents > 0 or developer.rectification_failed
  measures suspend, rectify
}

/// 期满前提醒重新申请
notice 续期提醒 \"授权协议即将到期，请重新申请\" article \"第十一条\" {
  when developer.agreement_expires - now <= limits.reapply_window and now <= developer.agreement_expires
}
",
    );
    s
}

fn catalog_text(agency: &Agency, datasets: &[&Dataset]) -> String {
    let mut s = String::from(HEADER);
    let _ = writeln!(s, "// {} 提供的数据资源目录", agency.name);
    for dataset in datasets {
        let _ = writeln!(s);
        let _ = writeln!(s, "/// {}，由{}提供", dataset.title, agency.name);
        let _ = writeln!(s, "dataset {} \"{}\" {{", dataset.name, dataset.title);
        let _ = writeln!(s, "  source \"{}\"", agency.name);
        let _ = writeln!(s, "  domain {}", dataset.domain);
        for field in &dataset.fields {
            match field.tag {
                Some(tag) => {
                    let _ = writeln!(
                        s,
                        "  field {} \"{}\" tags \"{}\"",
                        field.name,
                        field.title,
                        tag.label()
                    );
                }
                None => {
                    let _ = writeln!(s, "  field {} \"{}\"", field.name, field.title);
                }
            }
        }
        let _ = writeln!(s, "}}");
    }
    s
}

fn scenarios_text(scenarios: &[Scenario], catalog: &[Dataset]) -> String {
    let mut s = String::from(HEADER);
    for scenario in scenarios {
        let _ = writeln!(s);
        let _ = writeln!(s, "/// {}", scenario.title);
        let _ = writeln!(s, "scenario {} \"{}\" {{", scenario.name, scenario.title);
        let _ = writeln!(s, "  domain {}", scenario.domain);
        let _ = writeln!(s, "  purpose \"{}\"", scenario.purpose);
        let (y1, m1, d1) = scenario.start;
        let (y2, m2, d2) = scenario.end;
        let _ = writeln!(
            s,
            "  term {y1:04}-{m1:02}-{d1:02} .. {y2:04}-{m2:02}-{d2:02}"
        );
        if let Some((condition, title)) = scenario.require {
            let _ = writeln!(s, "  require {condition} \"{title}\"");
        }
        for u in &scenario.uses {
            let Some(dataset) = catalog.get(u.dataset) else {
                continue;
            };
            let names: Vec<&str> = u
                .fields
                .iter()
                .filter_map(|&i| dataset.fields.get(i))
                .map(|f| f.name.as_str())
                .collect();
            let _ = write!(
                s,
                "  use {} {{ {} }} via {}",
                dataset.name,
                names.join(", "),
                u.actions.join(", ")
            );
            if u.consent {
                s.push_str(" requires consent");
            }
            s.push('\n');
        }
        let _ = writeln!(s, "}}");
    }
    s
}

// ------------------------------------------------------------------ tests

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn opts(scenarios: usize) -> SynthOptions {
        SynthOptions {
            scenarios,
            ..SynthOptions::default()
        }
    }

    fn all_text(files: &[SynthFile], prefix: &str) -> String {
        files
            .iter()
            .filter(|f| f.path.starts_with(prefix))
            .map(|f| f.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn count_lines(text: &str, start: &str) -> usize {
        text.lines().filter(|l| l.starts_with(start)).count()
    }

    #[test]
    fn same_options_give_identical_output() {
        let a = generate(&opts(300));
        let b = generate(&opts(300));
        assert_eq!(a, b);
        let c = generate(&SynthOptions {
            seed: 2,
            ..opts(300)
        });
        assert_ne!(a, c);
    }

    #[test]
    fn counts_match_the_options() {
        let o = SynthOptions {
            scenarios: 230,
            datasets: 40,
            fields_per_dataset: 7,
            scenarios_per_file: 50,
            seed: 9,
        };
        let files = generate(&o);
        let catalog = all_text(&files, "catalog/");
        let scenarios = all_text(&files, "scenarios/");
        assert_eq!(count_lines(&catalog, "dataset "), 40);
        assert_eq!(count_lines(&catalog, "  field "), 40 * 7);
        assert_eq!(count_lines(&scenarios, "scenario "), 230);
        let scenario_files: Vec<&SynthFile> = files
            .iter()
            .filter(|f| f.path.starts_with("scenarios/"))
            .collect();
        assert_eq!(scenario_files.len(), 5);
        assert_eq!(
            scenario_files.first().unwrap().path,
            "scenarios/scenarios_001.charter"
        );
        assert_eq!(
            count_lines(&scenario_files.last().unwrap().text, "scenario "),
            30
        );
        for name in ["charter.toml", "grades.charter", "rules.charter"] {
            assert!(files.iter().any(|f| f.path == name), "{name} missing");
        }
        // One catalog file per agency, all ten used with 40 datasets.
        assert_eq!(
            files
                .iter()
                .filter(|f| f.path.starts_with("catalog/"))
                .count(),
            10
        );
    }

    #[test]
    fn default_dataset_count() {
        let count = |n| count_lines(&all_text(&generate(&opts(n)), "catalog/"), "dataset ");
        assert_eq!(count(0), 12);
        assert_eq!(count(10), 12);
        assert_eq!(count(100), 50);
        assert_eq!(count(1000), 500);
    }

    #[test]
    fn names_are_unique() {
        let files = generate(&opts(2500));
        let scenarios = all_text(&files, "scenarios/");
        let names: Vec<&str> = scenarios
            .lines()
            .filter_map(|l| l.strip_prefix("scenario "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(names.len(), 2500);
        assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), 2500);
        let catalog = all_text(&files, "catalog/");
        let datasets: Vec<&str> = catalog
            .lines()
            .filter_map(|l| l.strip_prefix("dataset "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            datasets.iter().collect::<BTreeSet<_>>().len(),
            datasets.len()
        );
    }

    /// Reads the generated catalog back and checks every `use` line the way the
    /// compiler would: fields exist, actions allowed by every field's grade, consent
    /// whenever a protected tag is used, no wildcard, no export_raw.
    #[test]
    fn scopes_respect_grades_and_consent() {
        let files = generate(&SynthOptions {
            fields_per_dataset: 25,
            ..opts(1500)
        });
        let catalog = all_text(&files, "catalog/");
        let mut tags: BTreeMap<String, BTreeMap<String, Option<String>>> = BTreeMap::new();
        let mut current = String::new();
        let mut tag_counts: BTreeMap<Option<String>, usize> = BTreeMap::new();
        for line in catalog.lines() {
            if let Some(rest) = line.strip_prefix("dataset ") {
                current = rest.split_whitespace().next().unwrap().to_string();
                tags.insert(current.clone(), BTreeMap::new());
            } else if let Some(rest) = line.strip_prefix("  field ") {
                let name = rest.split_whitespace().next().unwrap().to_string();
                let tag = rest
                    .split_once(" tags \"")
                    .map(|(_, t)| t.trim_end_matches('"').to_string());
                *tag_counts.entry(tag.clone()).or_default() += 1;
                let fields = tags.get_mut(&current).unwrap();
                assert!(
                    fields.insert(name, tag).is_none(),
                    "duplicate field in {current}"
                );
            }
        }
        // Tag proportions: about 30% / 10% / 10% / 50%.
        let total: usize = tag_counts.values().sum();
        let share = |t: Option<&str>| {
            100 * tag_counts.get(&t.map(str::to_string)).copied().unwrap_or(0) / total
        };
        assert!((26..=34).contains(&share(Some("个人信息"))));
        assert!((7..=13).contains(&share(Some("敏感个人信息"))));
        assert!((7..=13).contains(&share(Some("商业秘密"))));
        assert!((45..=55).contains(&share(None)));

        let allowed = |tag: &Option<String>| -> &[&str] {
            match tag.as_deref() {
                Some("敏感个人信息") => L4_ACTIONS,
                Some(_) => L3_ACTIONS,
                None => OPEN_ACTIONS,
            }
        };
        let scenarios = all_text(&files, "scenarios/");
        assert!(!scenarios.contains('*'));
        assert!(!scenarios.contains("export_raw"));
        let mut uses = 0;
        for line in scenarios.lines() {
            let Some(rest) = line.strip_prefix("  use ") else {
                continue;
            };
            uses += 1;
            let (dataset, rest) = rest.split_once(" { ").unwrap();
            let (fields, rest) = rest.split_once(" } via ").unwrap();
            let consent = rest.ends_with(" requires consent");
            let actions: Vec<&str> = rest
                .trim_end_matches(" requires consent")
                .split(", ")
                .collect();
            assert!((1..=2).contains(&actions.len()));
            let fields: Vec<&str> = fields.split(", ").collect();
            assert!((1..=5).contains(&fields.len()));
            let known = tags.get(dataset).unwrap();
            let mut protected = false;
            for field in fields {
                let tag = known.get(field).unwrap();
                protected |= tag.is_some();
                for action in &actions {
                    assert!(allowed(tag).contains(action), "{line}");
                }
            }
            assert_eq!(protected, consent, "{line}");
        }
        assert!(uses >= 1500);
    }

    #[test]
    fn terms_are_valid_and_short() {
        let scenarios = all_text(&generate(&opts(2000)), "scenarios/");
        for line in scenarios.lines() {
            let Some(rest) = line.strip_prefix("  term ") else {
                continue;
            };
            let (start, end) = rest.split_once(" .. ").unwrap();
            let parse = |d: &str| -> (u32, u32, u32) {
                let mut it = d.split('-').map(|p| p.parse::<u32>().unwrap());
                (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
            };
            let (y1, m1, d1) = parse(start);
            let (y2, m2, d2) = parse(end);
            assert!((1..=12).contains(&m2) && d2 >= 1 && d2 <= last_day(y2, m2));
            assert_eq!(d1, 1);
            let months = (y2 * 12 + m2) - (y1 * 12 + m1) + 1;
            assert!((12..=33).contains(&months), "{line}");
        }
    }

    #[test]
    fn degenerate_options_do_not_panic() {
        for o in [
            SynthOptions {
                scenarios: 0,
                datasets: 0,
                fields_per_dataset: 0,
                scenarios_per_file: 0,
                seed: 0,
            },
            SynthOptions {
                scenarios: 5,
                datasets: 1,
                fields_per_dataset: 1,
                scenarios_per_file: 0,
                seed: u64::MAX,
            },
        ] {
            let files = generate(&o);
            assert!(files.iter().any(|f| f.path == "charter.toml"));
        }
    }

    #[test]
    fn writes_the_bundle() {
        let dir = std::env::temp_dir().join(format!("charter-synth-test-{}", std::process::id()));
        let o = opts(60);
        write_bundle(&o, &dir).unwrap();
        for file in generate(&o) {
            let text = std::fs::read_to_string(dir.join(&file.path)).unwrap();
            assert_eq!(text, file.text);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
