#!/usr/bin/env sh
# Makes an installable copy of the Zed extension whose grammar comes from this clone of
# the Charter repository (its committed HEAD), for `zed: install dev extension`.
#
#   lsp/editors/zed/install-dev.sh [DEST]     # DEST defaults to ~/.local/share/charter-zed
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
rev=$(git -C "$repo" rev-parse HEAD)
dest=${1:-"$HOME/.local/share/charter-zed"}
mkdir -p "$dest/src" "$dest/languages/charter"
cp "$here/Cargo.toml" "$here/Cargo.lock" "$here/LICENSE" "$dest/"
cp "$here/src/lib.rs" "$dest/src/"
cp "$here"/languages/charter/* "$dest/languages/charter/"
# The grammar: this clone, at the commit checked out now.
sed -e "/^\[grammars.charter\]/,/^\[/ s|^repository = .*|repository = \"file://$repo\"|" \
    -e "/^\[grammars.charter\]/,/^\[/ s|^rev = .*|rev = \"$rev\"|" \
    "$here/extension.toml" >"$dest/extension.toml"
echo "Zed extension ready in $dest (grammar from $repo at $rev)"
echo "In Zed: run 'zed: install dev extension' and choose $dest"
