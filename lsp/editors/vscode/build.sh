#!/usr/bin/env sh
# Builds and packages the VS Code extension from a clean clone: exact dependencies from
# package-lock.json, `vsce package` (whose prepublish step type-checks and bundles
# src/ into out/extension.js with esbuild), then checks that the .vsix holds what
# VS Code needs and nothing else, and that the bundle loads on its own. Called by .ci/run.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
version=$(node -p 'require("./package.json").version')
vsix="charter-$version.vsix"
rm -f "$vsix" out/extension.js
npx --no-install vsce package --no-dependencies --out "$vsix"

# The package: the bundle, manifest, grammar, language configuration, licence and icon;
# no node_modules (everything is in the bundle), no sources.
python3 - "$vsix" <<'PY'
import sys, zipfile
path = sys.argv[1]
names = set(zipfile.ZipFile(path).namelist())
need = {
    "extension/package.json", "extension/out/extension.js", "extension/LICENSE.txt",
    "extension/images/icon.png", "extension/syntaxes/charter.tmLanguage.json",
    "extension/language-configuration.json", "extension/readme.md",
}
missing = sorted(need - names)
extra = sorted(n for n in names if n.startswith(("extension/node_modules/", "extension/src/")))
if missing or extra:
    sys.exit(f"{path}: missing {missing}, unexpected {extra}")
print(f"{path}: {len(names)} files, the bundle, licence and icon included, no node_modules")
PY

# The bundle needs nothing from node_modules: load it with only a stand-in for the
# `vscode` module (which VS Code provides) and check it exports the entry points.
node -e '
const Module = require("module");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "vscode") return request;
  if (!request.startsWith(".") && !request.startsWith("/") && !Module.isBuiltin(request)) {
    throw new Error(`the bundle requires ${request}, which is not in the .vsix`);
  }
  return resolve.call(this, request, ...rest);
};
// Any name read from the stand-in is a class, which is all the client needs at load time.
const stub = new Proxy({}, { get: (t, p) => (p === "__esModule" ? false : (t[p] ??= class {})) });
require.cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: stub };
const ext = require("./out/extension.js");
for (const f of ["activate", "deactivate"]) {
  if (typeof ext[f] !== "function") throw new Error(`out/extension.js does not export ${f}`);
}
'
size=$(wc -c <"$vsix")
echo "vscode extension packaged: $(pwd)/$vsix ($size bytes)"
