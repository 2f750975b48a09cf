/**
 * @file Tree-sitter grammar for Charter, policy-as-code for the authorized operation of
 *       public data (公共数据授权运营).
 * @license Apache-2.0
 *
 * This grammar mirrors `compiler/src/syntax/charter.pest`, which is the truth: the compiler
 * parses with pest, and this grammar exists so that editors (Helix, Neovim, Zed, anything
 * built on Tree-sitter) can highlight, fold and indent `.charter` files. When the pest
 * grammar changes, change this file the same way (rules carry the pest rule's name so each
 * has an obvious counterpart), run `tree-sitter generate`, and add a case to
 * `test/corpus/`. `.ci/tree-sitter` checks that the committed parser is generated from this
 * file, runs the corpus and parses every `.charter` file of the repository.
 *
 * Where the two differ, and why:
 * - pest parses one declaration at a time: the compiler first cuts a file into declarations
 *   at each line whose first word is a declaration keyword, when that line is outside braces
 *   or starts in the first column. Here `source_file` is the sequence of declarations, which
 *   accepts the same files, layout aside: two declarations on one line, or a statement such
 *   as `domain 金融` in the first column inside a scenario, are errors for the compiler and
 *   not here. An editor is better served by the forgiving reading; `charter fmt` never
 *   writes either.
 * - Keywords: pest ends each keyword at `!XID_CONTINUE` and lets any keyword but the seven
 *   reserved words (`and or not contains in true false`) be an identifier. Here keywords are
 *   contextual through `word`, and the seven are `reserved`, which gives the same language.
 * - A duration (`30 days`, `3个月`) is one token, as pest's compound-atomic rule is; pest
 *   also requires that an English unit not run on into a name (`3 day_count`), which a
 *   Tree-sitter token cannot look ahead to check: such text is a duration here and an
 *   integer followed by a name in pest. It only matters in a `fixture` fact block written
 *   without commas.
 * - Rules that pest keeps only to name tokens in its messages (`comma`, `lbrace`, `kw_*`)
 *   are plain strings here; wrappers that add nothing to a tree (`value`, `type_expr`,
 *   `atom`, `title`) are hidden or become a field (`title:`).
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

// pest: `(XID_START | "_") ~ XID_CONTINUE*`
const IDENT = /[\p{XID_Start}_]\p{XID_Continue}*/;
const INT = /-?[0-9]+/;

/**
 * One or more `rule`s separated by commas (pest: `rule ~ (comma ~ rule)*`).
 * @param {RuleOrLiteral} rule
 */
const commaSep1 = (rule) => seq(rule, repeat(seq(',', rule)));

module.exports = grammar({
  name: 'charter',

  // pest: WHITESPACE (with the ideographic space and the byte-order mark) and COMMENT.
  extras: ($) => [/[ \t\r\n\u3000\uFEFF]/, $.comment],

  word: ($) => $.identifier,

  // pest: `reserved`, the words that can never be an identifier.
  reserved: {
    global: (_) => ['and', 'or', 'not', 'contains', 'in', 'true', 'false'],
  },

  supertypes: ($) => [$._item, $._expr],

  rules: {
    // pest: `declaration = { SOI ~ doc* ~ item ~ EOI }`, repeated over the file.
    source_file: ($) => repeat(seq(repeat($.doc_comment), $._item)),

    _item: ($) =>
      choice(
        $.grades_decl,
        $.grade_rule,
        $.classify_decl,
        $.domain_decl,
        $.dataset_decl,
        $.scenario_decl,
        $.admission_decl,
        $.exit_decl,
        $.suspend_decl,
        $.notice_decl,
        $.limits_decl,
        $.test_decl,
        $.fixture_decl,
        $.action_decl,
        $.measure_decl,
        $.fact_decl,
        $.forbid_decl,
        $.consent_decl,
      ),

    // ------------------------------------------------------------------ tokens

    // pest: `COMMENT = _{ !"///" ~ "//" ~ (!"\n" ~ ANY)* }`
    comment: (_) => token(seq('//', optional(seq(/[^/\n]/, /[^\n]*/)))),
    // pest: `doc = @{ "///" ~ (!"\n" ~ ANY)* }`
    doc_comment: (_) => token(seq('///', /[^\n]*/)),

    identifier: (_) => IDENT,

    // pest: `path = @{ ident ~ ("." ~ (XID_START | "_") ~ XID_CONTINUE*)* }`; no space
    // around the dots, and segments after the first may be any word.
    path: ($) =>
      seq(
        $.identifier,
        repeat(seq(token.immediate('.'), alias(token.immediate(IDENT), $.identifier))),
      ),

    // pest: `string = ${ "\"" ~ string_inner ~ "\"" }`, escapes are `\` and any character.
    string: ($) =>
      seq(
        '"',
        repeat(choice($.string_content, $.escape_sequence)),
        token.immediate('"'),
      ),
    // Precedence over `comment`, so that `"http://…"` stays a string.
    string_content: (_) => token.immediate(prec(1, /[^"\\\n]+/)),
    escape_sequence: (_) => token.immediate(/\\(.|\n)/),

    date: (_) => /[0-9]{4}-[0-9]{2}-[0-9]{2}/,
    int: (_) => INT,
    duration: (_) =>
      token(
        seq(
          INT,
          / */,
          choice('days', 'day', 'months', 'month', 'years', 'year', '天', '日', '个月', '月', '年'),
        ),
      ),
    boolean: (_) => choice('true', 'false'),

    article: ($) => seq('article', $.string),
    ident_list: ($) => commaSep1($.identifier),
    string_list: ($) => commaSep1($.string),

    // ------------------------------------------------------------ declarations

    grades_decl: ($) => seq('grades', '{', repeat($.grade_entry), '}'),
    grade_entry: ($) =>
      seq(repeat($.doc_comment), field('name', $.identifier), optional(field('title', $.string))),

    grade_rule: ($) =>
      seq(
        'grade',
        field('grade', $.identifier),
        'allows',
        field('actions', $.ident_list),
        optional($.consent_clause),
        optional($.article),
      ),
    consent_clause: (_) => seq('requires', 'consent'),

    classify_decl: ($) =>
      seq(
        'classify',
        'field',
        optional(field('title', $.string)),
        optional($.article),
        '{',
        repeat($.classify_arm),
        optional($.otherwise_arm),
        '}',
      ),
    classify_arm: ($) =>
      seq(
        repeat($.doc_comment),
        'when',
        field('condition', $._expr),
        'then',
        field('grade', $.identifier),
      ),
    otherwise_arm: ($) => seq('otherwise', field('grade', $.identifier)),

    domain_decl: ($) =>
      seq(
        'domain',
        field('name', $.identifier),
        optional(field('title', $.string)),
        optional($.priority_flag),
        optional($.article),
      ),
    priority_flag: (_) => 'priority',

    dataset_decl: ($) =>
      seq(
        'dataset',
        field('name', $.path),
        optional(field('title', $.string)),
        '{',
        repeat(choice($.source_stmt, $.domain_stmt, $.tags_stmt, $.field_decl)),
        '}',
      ),
    source_stmt: ($) => seq('source', $.string),
    domain_stmt: ($) => seq('domain', field('domain', $.identifier)),
    tags_stmt: ($) => seq('tags', $.string_list),
    // `tags` after a field belongs to the field, as pest's greedy match has it, not to the
    // dataset's next statement.
    field_decl: ($) =>
      prec.right(seq(
        repeat($.doc_comment),
        'field',
        field('name', $.identifier),
        optional(field('title', $.string)),
        optional(seq('tags', $.string_list)),
        optional(seq('grade', field('grade', $.identifier))),
      )),

    scenario_decl: ($) =>
      seq(
        'scenario',
        field('name', $.identifier),
        optional(field('title', $.string)),
        optional($.article),
        '{',
        repeat(choice($.domain_stmt, $.purpose_stmt, $.term_stmt, $.require_stmt, $.use_stmt)),
        '}',
      ),
    purpose_stmt: ($) => seq('purpose', $.string),
    term_stmt: ($) => seq('term', field('start', $.date), '..', field('end', $.date)),
    require_stmt: ($) =>
      seq(
        repeat($.doc_comment),
        'require',
        field('condition', $._expr),
        optional(field('title', $.string)),
        optional($.article),
      ),
    use_stmt: ($) =>
      seq(
        'use',
        field('dataset', $.path),
        field('fields', $.field_set),
        'via',
        field('actions', $.ident_list),
        optional($.consent_clause),
      ),
    field_set: ($) => seq('{', choice($.wildcard, $.ident_list), '}'),
    wildcard: (_) => '*',

    admission_decl: ($) =>
      seq(
        'admission',
        optional(field('title', $.string)),
        optional($.article),
        '{',
        repeat($.require_stmt),
        '}',
      ),

    exit_decl: ($) => seq('exit', $._rule_body),
    suspend_decl: ($) => seq('suspend', $._rule_body),
    notice_decl: ($) => seq('notice', $._rule_body),
    _rule_body: ($) =>
      seq(
        field('name', $.identifier),
        optional(field('title', $.string)),
        optional($.article),
        '{',
        $.when_stmt,
        optional($.measures_stmt),
        '}',
      ),
    when_stmt: ($) => seq('when', field('condition', $._expr)),
    measures_stmt: ($) => seq('measures', field('measures', $.ident_list)),

    limits_decl: ($) => seq('limits', '{', repeat($.limit_stmt), '}'),
    limit_stmt: ($) =>
      seq(field('name', choice('max_term', 'reapply_window')), field('value', $.duration)),

    action_decl: ($) =>
      seq('action', field('name', $.identifier), optional(field('title', $.string))),
    measure_decl: ($) =>
      seq('measure', field('name', $.identifier), optional(field('title', $.string))),
    fact_decl: ($) =>
      seq(
        'fact',
        field('name', $.identifier),
        ':',
        field('type', $._type_expr),
        optional(field('title', $.string)),
      ),
    // pest: `type_expr = { set_type | ident }`; `set` alone is a name there too.
    _type_expr: ($) => choice($.set_type, $.identifier, alias('set', $.identifier)),
    set_type: ($) => seq('set', '<', field('element', $.identifier), '>'),

    forbid_decl: ($) =>
      seq(
        'forbid',
        field('name', $.identifier),
        optional(field('title', $.string)),
        optional($.article),
        '{',
        'actions',
        field('actions', $.ident_list),
        optional($.when_stmt),
        '}',
      ),
    consent_decl: ($) =>
      seq('consent', 'required', 'for', 'tags', $.string_list, optional($.article)),

    // ------------------------------------------------------------------- tests

    fixture_decl: ($) =>
      seq('fixture', field('name', $.string), optional(field('title', $.string)), $.fact_block),
    fact_block: ($) =>
      seq(
        '{',
        optional(seq($.fact_assign, repeat(seq(optional(','), $.fact_assign)))),
        optional(','),
        '}',
      ),
    fact_assign: ($) => seq(field('name', $.identifier), '=', field('value', $._value)),
    _value: ($) =>
      choice($.date, $.duration, $.int, $.string, $.boolean, $.value_list, $.identifier),
    value_list: ($) =>
      seq('[', optional(commaSep1($._value)), optional(','), ']'),

    test_decl: ($) =>
      seq(
        'test',
        field('name', $.string),
        '{',
        repeat(choice($.given_stmt, $.at_stmt, $.expect_stmt)),
        '}',
      ),
    given_stmt: ($) =>
      seq('given', optional('developer'), field('developer', $.string), optional($.fact_block)),
    at_stmt: ($) => seq('at', $.date),
    expect_stmt: ($) => seq('expect', choice($.expect_decision, $.expect_trigger)),
    expect_decision: ($) =>
      seq(
        $.decision,
        field('action', $.identifier),
        field('dataset', $.path),
        optional(field('fields', $.field_set)),
        optional(seq('by', field('developer', $.string))),
        'in',
        field('scenario', $.identifier),
        optional($.consent_given),
        optional($.because),
      ),
    decision: (_) => choice('allow', 'deny'),
    consent_given: ($) => seq('with', 'consent', optional(field('reference', $.string))),
    because: ($) => seq('because', field('rule', choice($.string, $.path))),
    expect_trigger: ($) =>
      seq(
        $.trigger_kind,
        field('rule', $.identifier),
        optional(seq('for', field('developer', $.string))),
        optional($.measures_stmt),
      ),
    trigger_kind: (_) => choice('exit', 'suspend', 'notice'),

    // ------------------------------------------------------------- expressions
    //
    // The same levels as pest, loosest first: `or`, `and`, `not`, one comparison (it does
    // not chain), `+`/`-` over atoms. Each level is a node only when its operator is there.

    _expr: ($) => choice($.or_expr, $._and_level),
    or_expr: ($) => seq($._and_level, repeat1(seq('or', $._and_level))),
    _and_level: ($) => choice($.and_expr, $._not_level),
    and_expr: ($) => seq($._not_level, repeat1(seq('and', $._not_level))),
    _not_level: ($) => choice($.not_expr, $._cmp_level),
    not_expr: ($) => seq('not', $._not_level),
    _cmp_level: ($) => choice($.cmp_expr, $._sum_level),
    cmp_expr: ($) =>
      seq(
        field('left', $._sum_level),
        field('operator', choice('==', '!=', '<=', '>=', '<', '>', 'contains', 'in')),
        field('right', $._sum_level),
      ),
    _sum_level: ($) => choice($.sum_expr, $._atom),
    sum_expr: ($) => seq($._atom, repeat1(seq(field('operator', choice('+', '-')), $._atom))),
    _atom: ($) =>
      choice(
        $.date,
        $.duration,
        $.int,
        $.string,
        $.boolean,
        $.list,
        $.paren,
        $.path,
      ),
    paren: ($) => seq('(', $._expr, ')'),
    list: ($) => seq('[', optional(commaSep1($._expr)), optional(','), ']'),
  },
});
