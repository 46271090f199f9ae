#!/usr/bin/env node
// Compiles the gas anchors that are not ours: Seaport 1.6 (npm seaport-core, pinned) and its ConduitController,
// unmodified, with the compiler and settings of Seaport's own release profile (solc 0.8.24, via-IR, optimizer
// 4,294,967,295 runs, cancun, no metadata hash). solc 0.8.30 cannot compile them: via-IR runs out of stack.
// bench/gas_bench.py deploys them to measure Seaport's fills beside our Exchange in the same run.
//
//   node contracts/build_anchors.js           write contracts/artifacts/anchors/<Contract>.json (about 35 s)
//   node contracts/build_anchors.js --check   exit 1 unless the committed anchors were built from the pinned packages
//
// The check compares the versions recorded in the artifacts with package-lock.json (no recompile);
// tests/chain/test_artifacts.py does the same in Python.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const ROOT = __dirname;
const OUT = path.join(ROOT, 'artifacts', 'anchors');
const COMPILER = 'solc-0.8.24';
const PACKAGE = 'seaport-core';
const SOURCES = {
  Seaport: 'seaport-core/src/Seaport.sol',
  ConduitController: 'seaport-core/src/conduit/ConduitController.sol',
};
const SETTINGS = {
  viaIR: true,
  optimizer: { enabled: true, runs: 4294967295 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none' },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};

function pinned() {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  const version = (name) => {
    const entry = lock.packages[`node_modules/${name}`];
    if (!entry) throw new Error(`package-lock.json has no ${name}: run npm install --prefix contracts`);
    return entry.version;
  };
  return { [PACKAGE]: version(PACKAGE), solc: version(COMPILER) };
}

function build() {
  const solc = require(COMPILER);
  const sources = {};
  for (const rel of Object.values(SOURCES)) sources[rel] = { content: fs.readFileSync(require.resolve(rel, { paths: [ROOT] }), 'utf8') };
  const findImport = (p) => {
    try {
      return { contents: fs.readFileSync(require.resolve(p, { paths: [ROOT] }), 'utf8') };
    } catch (err) {
      return { error: `cannot resolve ${p}: ${err.message}` };
    }
  };
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of errors) process.stderr.write(e.formattedMessage + '\n');
  if (errors.length) throw new Error(`solc failed with ${errors.length} error(s)`);
  const versions = pinned();
  const out = {};
  for (const [name, rel] of Object.entries(SOURCES)) {
    const c = output.contracts[rel][name];
    out[name] = {
      generated: 'by contracts/build_anchors.js from npm seaport-core, unmodified; a gas anchor, do not edit, rebuild',
      contractName: name,
      sourceName: rel,
      compiler: { name: 'solc', version: solc.version(), settings: { viaIR: true, optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion } },
      packages: versions,
      sourceHash: '',
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '',
    };
  }
  return out;
}

function main() {
  if (process.argv.includes('--check')) {
    const want = JSON.stringify(pinned());
    const problems = Object.keys(SOURCES)
      .map((name) => [name, path.join(OUT, `${name}.json`)])
      .filter(([, p]) => !fs.existsSync(p) || JSON.stringify(JSON.parse(fs.readFileSync(p, 'utf8')).packages) !== want)
      .map(([name]) => name);
    if (problems.length) {
      process.stderr.write(`anchor artifacts stale or missing: ${problems.join(', ')} (run: node contracts/build_anchors.js)\n`);
      process.exit(1);
    }
    process.stdout.write(`anchor artifacts match ${want}\n`);
    return;
  }
  const started = Date.now();
  const built = build();
  fs.mkdirSync(OUT, { recursive: true });
  for (const [name, a] of Object.entries(built)) fs.writeFileSync(path.join(OUT, `${name}.json`), JSON.stringify(a, null, 2) + '\n');
  process.stdout.write(`wrote ${Object.keys(built).length} anchor artifacts to ${path.relative(process.cwd(), OUT) || '.'} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`build_anchors.js: ${err.message}\n`);
  process.exit(2);
}
