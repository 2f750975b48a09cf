#!/usr/bin/env sh
# Builds the VS Code extension from a clean clone: exact dependencies from
# package-lock.json, then the TypeScript compile. Called by .ci/run.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run compile
test -f out/extension.js
echo "vscode extension built: $(pwd)/out/extension.js"
