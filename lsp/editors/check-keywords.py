#!/usr/bin/env python3
"""Checks that the editors know every keyword of the language.

The pest grammar (compiler/src/syntax/charter.pest) is the truth. Each of its keywords
(`kw_*` rules) must be a token of the Tree-sitter grammar, be highlighted by its queries
and appear in the VS Code TextMate grammar; its reserved words and duration units must be
the Tree-sitter grammar's too. Prints what is missing where and exits 1, so that a keyword
added to the language (`product`, say) cannot be forgotten by the editors.
"""

import json
import re
import sys
from pathlib import Path

EDITORS = Path(__file__).resolve().parent
REPO = EDITORS.parent.parent
PEST = REPO / "compiler" / "src" / "syntax" / "charter.pest"
GRAMMAR = EDITORS / "tree-sitter-charter" / "grammar.js"
HIGHLIGHTS = EDITORS / "tree-sitter-charter" / "queries" / "highlights.scm"
TEXTMATE = EDITORS / "vscode" / "syntaxes" / "charter.tmLanguage.json"


def pest_rule(pest: str, name: str) -> str:
    m = re.search(rf"(?ms)^{name}\s*=\s*[@$_]?\{{(.*?)\}}\s*$", pest)
    if not m:
        sys.exit(f"{PEST}: no rule `{name}`")
    return m.group(1)


def textmate_words(node, out: set) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin", "end") and isinstance(value, str):
                out.update(re.findall(r"[A-Za-z_]+", value))
            else:
                textmate_words(value, out)
    elif isinstance(node, list):
        for value in node:
            textmate_words(value, out)


def main() -> int:
    pest = PEST.read_text(encoding="utf-8")
    keywords = re.findall(r'(?m)^kw_\w+\s*=\s*@\{\s*"([^"]+)"', pest)
    reserved = re.findall(r'"(\w+)"', pest_rule(pest, "reserved"))
    units = re.findall(r'"([^"]+)"', pest_rule(pest, "duration_unit"))
    if len(keywords) < 40 or not reserved or not units:
        sys.exit(f"{PEST}: found only {len(keywords)} keywords, {reserved}, {units}")

    grammar = GRAMMAR.read_text(encoding="utf-8")
    grammar_strings = set(re.findall(r"'([^'\\]+)'", grammar))
    highlights = HIGHLIGHTS.read_text(encoding="utf-8")
    highlighted = set(re.findall(r'"([^"\\]+)"', highlights))
    tm_words: set = set()
    textmate_words(json.loads(TEXTMATE.read_text(encoding="utf-8")), tm_words)
    # Keywords that are a named node of their own (`priority_flag: (_) => 'priority'`,
    # `boolean`) are highlighted through that node.
    for rule, body in re.findall(r"(?m)^\s*(\w+): \(_\) =>\s*(.*),$", grammar):
        if f"({rule})" in highlights:
            highlighted.update(re.findall(r"'([^'\\]+)'", body))
    m = re.search(r"reserved:\s*\{\s*global:[^\[]*\[([^\]]*)\]", grammar)
    ts_reserved = re.findall(r"'(\w+)'", m.group(1)) if m else []

    problems = []
    for kw in keywords:
        if kw not in grammar_strings:
            problems.append(f"keyword `{kw}` is not a token of {GRAMMAR.relative_to(REPO)}")
        if kw not in highlighted:
            problems.append(f"keyword `{kw}` is not highlighted by {HIGHLIGHTS.relative_to(REPO)}")
        if kw not in tm_words:
            problems.append(f"keyword `{kw}` is not in {TEXTMATE.relative_to(REPO)}")
    if sorted(reserved) != sorted(ts_reserved):
        problems.append(f"reserved words differ: pest {reserved}, tree-sitter {ts_reserved}")
    for unit in units:
        if unit not in grammar_strings:
            problems.append(f"duration unit `{unit}` is not in {GRAMMAR.relative_to(REPO)}")
    for p in problems:
        print(p, file=sys.stderr)
    print(
        f"keywords: {len(keywords)} keywords, {len(reserved)} reserved words and {len(units)}"
        f" duration units of charter.pest checked, {len(problems)} missing"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
