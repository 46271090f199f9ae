#!/usr/bin/env node
// Compiles the Solidity sources under contracts/ with solcjs (standard JSON, optimizer 200 runs) and writes one
// artifact per contract to contracts/artifacts/<Contract>.json: ABI, bytecode, solc version and the source hash.
//
//   node contracts/build.js           rebuild the artifacts
//   node contracts/build.js --check   rebuild in memory; exit 1 if the committed artifacts differ
//
// The source hash (see sourceHash below; multiverse/chain/artifacts.py computes the same) covers every .sol file
// here, this script and the pinned solc, OpenZeppelin and Solady versions, so a test can tell stale artifacts without node.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = __dirname;
const ARTIFACTS = path.join(ROOT, 'artifacts');
const SKIP_DIRS = new Set(['node_modules', 'artifacts']);
const PINNED = ['solc', '@openzeppelin/contracts', 'solady'];
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun', // transient storage (the reentrancy guard); no later opcodes, so any current node runs it
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** Relative POSIX paths of every .sol file under contracts/, sorted by UTF-16 code unit (ASCII names only). */
function solidityFiles(dir = ROOT, prefix = '') {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) found.push(...solidityFiles(path.join(dir, entry.name), rel + '/'));
    } else if (entry.name.endsWith('.sol')) {
      found.push(rel);
    }
  }
  return found.sort();
}

/** Versions of the pinned packages as package-lock.json records them. */
function pinnedVersions() {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  return PINNED.map((name) => {
    const entry = lock.packages[`node_modules/${name}`];
    if (!entry) throw new Error(`package-lock.json has no ${name}: run npm install --prefix contracts`);
    return [name, entry.version];
  });
}

/** sha256 of a manifest: "<sha256>  <path>" for build.js and each .sol file, then "<package> <version>" lines. */
function sourceHash(files) {
  const lines = ['build.js', ...files].map((rel) => `${sha256(fs.readFileSync(path.join(ROOT, rel)))}  ${rel}`);
  for (const [name, version] of pinnedVersions()) lines.push(`${name} ${version}`);
  return sha256(lines.join('\n') + '\n');
}

function findImport(importPath) {
  try {
    return { contents: fs.readFileSync(require.resolve(importPath, { paths: [ROOT] }), 'utf8') };
  } catch (err) {
    return { error: `cannot resolve ${importPath} from contracts/node_modules: ${err.message}` };
  }
}

function compile(files) {
  let solc;
  try {
    solc = require('solc');
  } catch (err) {
    throw new Error(`solc is not installed (run: npm ci --prefix contracts): ${err.message}`);
  }
  const sources = {};
  for (const rel of files) sources[rel] = { content: fs.readFileSync(path.join(ROOT, rel), 'utf8') };
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  // Errors always; warnings only about our own sources (OpenZeppelin's are theirs to keep).
  const ours = (e) => e.severity === 'error' || !(e.sourceLocation && e.sourceLocation.file.startsWith('@'));
  for (const e of (output.errors || []).filter(ours)) process.stderr.write(e.formattedMessage + '\n');
  if (errors.length) throw new Error(`solc failed with ${errors.length} error(s)`);
  return { version: solc.version(), contracts: output.contracts };
}

function artifacts(files) {
  const hash = sourceHash(files);
  const { version, contracts } = compile(files);
  const out = {};
  for (const rel of files) {
    for (const [name, c] of Object.entries(contracts[rel] || {})) {
      if (out[name]) throw new Error(`two contracts named ${name}: artifact names must be unique`);
      out[name] = {
        generated: 'by contracts/build.js from the sources under contracts/; do not edit, rebuild',
        contractName: name,
        sourceName: rel,
        compiler: { name: 'solc', version, settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion } },
        sourceHash: hash,
        abi: c.abi,
        bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      };
    }
  }
  return out;
}

function main() {
  const check = process.argv.includes('--check');
  const built = artifacts(solidityFiles());
  const wanted = new Map(Object.entries(built).map(([name, a]) => [`${name}.json`, JSON.stringify(a, null, 2) + '\n']));
  if (check) {
    const present = fs.existsSync(ARTIFACTS) ? fs.readdirSync(ARTIFACTS).filter((f) => f.endsWith('.json')) : [];
    const problems = [];
    for (const [file, text] of wanted) {
      const p = path.join(ARTIFACTS, file);
      if (!fs.existsSync(p)) problems.push(`${file} is missing`);
      else if (fs.readFileSync(p, 'utf8') !== text) problems.push(`${file} differs from a fresh build`);
    }
    for (const file of present) if (!wanted.has(file)) problems.push(`${file} has no source any more`);
    if (problems.length) {
      process.stderr.write(`stale artifacts (run: node contracts/build.js):\n  ${problems.join('\n  ')}\n`);
      process.exit(1);
    }
    process.stdout.write(`artifacts are fresh (${wanted.size} contracts)\n`);
    return;
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const file of fs.readdirSync(ARTIFACTS)) if (file.endsWith('.json') && !wanted.has(file)) fs.unlinkSync(path.join(ARTIFACTS, file));
  for (const [file, text] of wanted) fs.writeFileSync(path.join(ARTIFACTS, file), text);
  process.stdout.write(`wrote ${wanted.size} artifacts to ${path.relative(process.cwd(), ARTIFACTS) || '.'}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`build.js: ${err.message}\n`);
  process.exit(2);
}
