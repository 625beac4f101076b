#!/usr/bin/env node
// Checks that a Linux fusionrank.node can ship in a platform package: an ELF
// shared object for the expected machine that exports the Node-API entry
// point, needs only the C library (libstdc++ and libgcc linked in), and asks
// for no glibc newer than --max-glibc.
//
//   node scripts/check-binary.mjs <fusionrank.node> [--arch x64|arm64] [--max-glibc 2.28] [--json]
//
// Prints the NEEDED libraries and the highest GLIBC_ / GLIBCXX_ / CXXABI_ /
// GCC_ version asked for (with the symbols that ask for it); exits 1 with the
// reasons when a check fails, 2 on bad usage. Reads the file with readelf
// (binutils), which handles every ELF machine, so one host checks both.
import { spawnSync } from 'node:child_process';
import { openSync, readSync, closeSync } from 'node:fs';
import { parseArgs } from 'node:util';

const ALLOWED_NEEDED = [/^libc\.so\.6$/, /^libm\.so\.6$/, /^libpthread\.so\.0$/, /^libdl\.so\.2$/, /^librt\.so\.1$/, /^ld-linux.*\.so.*$/];
/** Version prefixes of the C++ runtime and libgcc_s: none may be imported. */
const RUNTIME_VERSIONS = ['GLIBCXX_', 'CXXABI_', 'GCC_'];
const MACHINES = { 62: 'x64', 183: 'arm64' };
const ENTRY_POINT = 'napi_register_module_v1';

function usage(message) {
  console.error(`check-binary: ${message}`);
  console.error('usage: node scripts/check-binary.mjs <fusionrank.node> [--arch x64|arm64] [--max-glibc 2.28] [--json]');
  process.exit(2);
}

/** "2.2.5" -> [2, 2, 5]; compares component by component. */
function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Class, byte order, type and machine from the ELF header (no tool needed). */
function elfHeader(path) {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return { elf: false };
  const littleEndian = header[5] === 1;
  const read16 = (offset) => (littleEndian ? header.readUInt16LE(offset) : header.readUInt16BE(offset));
  return { elf: true, is64: header[4] === 2, littleEndian, type: read16(16), machine: read16(18) };
}

function readelf(args, path) {
  const result = spawnSync(process.env.READELF ?? 'readelf', ['-W', ...args, path], { encoding: 'utf8' });
  if (result.error) {
    console.error(`check-binary: cannot run readelf (${result.error.message}); install binutils or set READELF`);
    process.exit(2);
  }
  if (result.status !== 0) {
    console.error(`check-binary: readelf ${args.join(' ')} failed: ${result.stderr.trim()}`);
    process.exit(2);
  }
  return result.stdout;
}

export function inspect(path) {
  const header = elfHeader(path);
  if (!header.elf) return { header };
  const needed = [...readelf(['-d'], path).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  // Imported symbols with their version: "UND pthread_create@GLIBC_2.34 (3)".
  const imports = [];
  const exports = [];
  for (const line of readelf(['--dyn-syms'], path).split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8 || !/^\d+:$/.test(fields[0])) continue;
    const [name, version] = fields[7].split(/@@?/);
    if (fields[6] === 'UND') {
      if (name) imports.push({ name, version: version?.replace(/\s.*/, '') ?? null });
    } else if (fields[4] !== 'LOCAL') {
      exports.push(name);
    }
  }
  // The version needs are what the dynamic loader checks, file by file.
  const versionNeeds = [];
  let file = null;
  for (const line of readelf(['-V'], path).split('\n')) {
    const fileMatch = /File: (\S+)/.exec(line);
    if (fileMatch) file = fileMatch[1];
    const nameMatch = /Name: (\S+)/.exec(line);
    if (nameMatch && file) versionNeeds.push({ file, version: nameMatch[1] });
  }
  const highest = {};
  for (const prefix of ['GLIBC_', ...RUNTIME_VERSIONS]) {
    const versions = versionNeeds.map((v) => v.version).filter((v) => v.startsWith(prefix) && /\d/.test(v.slice(prefix.length)));
    if (versions.length === 0) continue;
    const max = versions.map((v) => v.slice(prefix.length)).sort(compareVersions).at(-1);
    highest[prefix] = {
      version: max,
      symbols: imports.filter((s) => s.version === `${prefix}${max}`).map((s) => s.name).sort(),
    };
  }
  return { header, needed, imports, exports, versionNeeds, highest };
}

function main() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { arch: { type: 'string' }, 'max-glibc': { type: 'string' }, json: { type: 'boolean' } },
    });
  } catch (error) {
    usage(error.message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) usage('expected exactly one file');
  if (values.arch !== undefined && !Object.values(MACHINES).includes(values.arch)) {
    usage(`--arch must be one of ${Object.values(MACHINES).join(', ')}, got ${values.arch}`);
  }
  const maxGlibc = values['max-glibc'];
  if (maxGlibc !== undefined && !/^\d+(\.\d+)+$/.test(maxGlibc)) usage(`--max-glibc must look like 2.28, got ${maxGlibc}`);
  const path = positionals[0];

  let info;
  try {
    info = inspect(path);
  } catch (error) {
    console.error(`check-binary: cannot read ${path}: ${error.message}`);
    process.exit(1);
  }
  const failures = [];
  const { header } = info;
  const machine = MACHINES[header.machine] ?? `e_machine ${header.machine}`;
  if (!header.elf) {
    failures.push('not an ELF file');
  } else {
    if (!header.is64 || !header.littleEndian) failures.push('not a 64-bit little-endian ELF file');
    if (header.type !== 3) failures.push(`ELF type ${header.type}, not a shared object (ET_DYN = 3)`);
    if (values.arch && machine !== values.arch) failures.push(`built for ${machine}, expected ${values.arch}`);
    if (!info.exports.includes(ENTRY_POINT)) failures.push(`does not export ${ENTRY_POINT}: Node cannot load it as an addon`);
    for (const library of info.needed) {
      if (!ALLOWED_NEEDED.some((allowed) => allowed.test(library))) {
        failures.push(`needs ${library}: only the C library may be dynamic (libstdc++ and libgcc must be linked statically)`);
      }
    }
    const runtimeNeeds = info.versionNeeds.filter(({ version }) => RUNTIME_VERSIONS.some((prefix) => version.startsWith(prefix)));
    for (const file of new Set(runtimeNeeds.map((need) => need.file))) {
      const versions = runtimeNeeds.filter((need) => need.file === file).map((need) => need.version);
      const symbols = info.imports.filter((s) => versions.includes(s.version)).map((s) => s.name);
      failures.push(
        `imports ${versions.join(', ')} from ${file} (${symbols.length} symbols: ${symbols.slice(0, 4).join(', ')}${symbols.length > 4 ? ', ...' : ''}): ` +
          'libstdc++ and libgcc must be linked statically',
      );
    }
    const glibc = info.highest.GLIBC_;
    if (maxGlibc && glibc && compareVersions(glibc.version, maxGlibc) > 0) {
      const over = info.versionNeeds
        .filter((v) => v.version.startsWith('GLIBC_') && compareVersions(v.version.slice(6), maxGlibc) > 0)
        .map((v) => v.version);
      const symbols = info.imports.filter((s) => over.includes(s.version)).map((s) => `${s.name}@${s.version}`);
      failures.push(`needs glibc ${glibc.version}, more than --max-glibc ${maxGlibc}: ${symbols.join(', ')}`);
    }
  }

  if (values.json) {
    console.log(JSON.stringify({ file: path, machine, needed: info.needed ?? [], highest: info.highest ?? {}, exports: info.exports ?? [], failures }, null, 2));
  } else {
    console.log(`${path}: ${header.elf ? `ELF ${machine}` : 'not ELF'}`);
    if (header.elf) {
      console.log(`  NEEDED: ${info.needed.join(', ') || '(none)'}`);
      for (const prefix of ['GLIBC_', ...RUNTIME_VERSIONS]) {
        const entry = info.highest[prefix];
        const label = `${prefix.replace(/_$/, '')} max:`.padEnd(14);
        console.log(`  ${label}${entry ? `${entry.version}${entry.symbols.length ? ` (${entry.symbols.join(', ')})` : ''}` : '(none)'}`);
      }
      console.log(`  exports: ${info.exports.length} symbol(s)${info.exports.length <= 5 ? ` (${info.exports.join(', ')})` : ''}`);
    }
    for (const failure of failures) console.error(`FAIL ${failure}`);
    if (failures.length === 0) console.log(`OK${maxGlibc ? ` (glibc <= ${maxGlibc})` : ''}`);
  }
  process.exit(failures.length ? 1 : 0);
}

main();
