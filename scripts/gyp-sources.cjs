// Lists native sources for binding.gyp, which cannot glob: `core` (baseline
// files), `addon`, or an ISA name (that ISA's kernel files). Mirrors the
// globs in CMakeLists.txt.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const rel = (p) => path.relative(root, p).split(path.sep).join('/');
const list = (dir, filter) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter(filter).map((f) => rel(path.join(dir, f))) : [];

const what = process.argv[2];
let files;
if (what === 'core') {
  files = [
    ...list(path.join(root, 'native/core'), (f) => f.endsWith('.cc')),
    ...list(path.join(root, 'native/core/kernels'), (f) => f.endsWith('.cc')),
  ];
} else if (what === 'addon') {
  files = list(path.join(root, 'native/addon'), (f) => f.endsWith('.cc'));
} else {
  const kernels = path.join(root, 'native/core/kernels');
  files = fs
    .readdirSync(kernels, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => list(path.join(kernels, d.name), (f) => f === `${what}.cc`));
}
process.stdout.write(files.join(' '));
