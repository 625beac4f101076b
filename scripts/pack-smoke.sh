#!/usr/bin/env bash
# Packs fusionrank (prepack builds this platform's prebuild), installs the
# tarball into an empty project the way a user would, and runs the
# quickstart and the CLI from there. Used by the release workflow; needs the
# npm registry for the dependencies.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ONNXRUNTIME_NODE_INSTALL=skip
(cd "$root" && npm pack --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/fusionrank-*.tgz)"
tar tzf "$tarball" | grep -q "package/prebuilds/$(node -p 'process.platform + "-" + process.arch')/fusionrank.node" \
  || { echo "pack-smoke: the tarball has no prebuild for this platform" >&2; exit 1; }
mkdir "$work/app"
cd "$work/app"
echo '{ "name": "app", "version": "1.0.0", "type": "module", "private": true }' > package.json
npm install --no-audit --no-fund "$tarball" >/dev/null
cat > main.js <<'JS'
import { capabilities, VectorStore } from 'fusionrank';
const store = new VectorStore({ dim: 4, dtype: 'f16' });
store.add(new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]));
const { rows } = store.topK(new Float32Array([1, 0.1, 0, 0]), 1);
if (rows[0] !== 0) throw new Error('wrong top-1');
console.log('pack-smoke: ok', capabilities());
JS
node main.js
npx --no-install fusionrank info >/dev/null
echo "pack-smoke: CLI ok"
