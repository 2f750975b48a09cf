#!/usr/bin/env sh
# Compiles the Charter Tree-sitter parser into parser/charter.so beside this script, where
# Neovim finds it once this folder is on 'runtimepath'. Needs a C compiler; no tree-sitter
# CLI, no nvim-treesitter.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../tree-sitter-charter/src"
mkdir -p "$here/parser"
case "$(uname -s)" in
  Darwin) shared="-dynamiclib" ;;
  *) shared="-shared" ;;
esac
${CC:-cc} -O2 -fPIC $shared -std=c11 -I "$src" "$src/parser.c" -o "$here/parser/charter.so"
echo "built $here/parser/charter.so"
