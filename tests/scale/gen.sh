#!/bin/sh
# Generates the two bundles that measure Charter's scaling (issue 10, finding 7):
#
#   OUT/duplicates  one file declaring the same dataset N_DUP times (N_DUP - 1 CH0102 errors:
#                   `charter check` must render every one of them in linear time)
#   OUT/scope       one dataset of N_FIELDS fields and one scenario using all of them
#                   (`charter build` must check and build it in linear time)
#
# Usage: tests/scale/gen.sh OUT [N_DUP] [N_FIELDS]   (defaults 40000 and 20000)
# Then, on a release build:
#   time target/release/charter check OUT/duplicates   (exit 1: the duplicates are errors)
#   time target/release/charter build OUT/scope --out OUT/scope-out
set -eu
out=${1:?usage: gen.sh OUT [N_DUP] [N_FIELDS]}
n_dup=${2:-40000}
n_fields=${3:-20000}

grades='grades {
  L1 "公开"
  L2 "内部"
}
grade L1 allows verify, statistics, sandbox_model
grade L2 allows verify, statistics
classify field "分级" {
  when tags contains "公开" then L1
  otherwise L2
}'

mkdir -p "$out/duplicates" "$out/scope"
printf '[bundle]\nname = "duplicates"\nversion = "0.1.0"\n' > "$out/duplicates/charter.toml"
printf '%s\n' "$grades" > "$out/duplicates/grades.charter"
awk -v n="$n_dup" 'BEGIN {
  for (i = 1; i <= n; i++)
    printf "dataset dup.same \"同名数据集\" {\n  source \"市数据局\"\n  domain 交通\n  field a \"字段\"\n}\n"
}' > "$out/duplicates/datasets.charter"

printf '[bundle]\nname = "scope"\nversion = "0.1.0"\n' > "$out/scope/charter.toml"
printf '%s\n' "$grades" > "$out/scope/grades.charter"
awk -v n="$n_fields" 'BEGIN {
  printf "dataset big.wide \"宽表\" {\n  source \"市数据局\"\n  domain 交通\n"
  for (i = 1; i <= n; i++) printf "  field f%05d \"字段%d\"\n", i, i
  printf "}\n\n"
  printf "scenario 宽表统计 \"宽表统计\" {\n  domain 交通\n  purpose \"统计\"\n  term 2026-01-01 .. 2026-12-31\n  use big.wide {\n"
  for (i = 1; i <= n; i++) printf "    f%05d%s\n", i, (i < n ? "," : "")
  printf "  } via statistics\n}\n"
}' > "$out/scope/scope.charter"
