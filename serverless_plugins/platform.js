'use strict';

// Variable resolvers for the Lambda platform: the Python version, the CPU architecture, the pip
// arguments that fetch wheels for both, and function versions (published only for SnapStart).
//
// The Python version has ONE setting, lambda-python-version.txt (also read by the Makefile and
// scripts/lambda_python.py): moving to another runtime is a one-line change there.
//   runtime: ${file(./serverless_plugins/platform.js):runtime}    -> "python3.13"
// The architecture is the param `architecture` (x86_64 or arm64, serverless.yml custom.params).

const fs = require('fs');
const path = require('path');
const params = require('./params');

const VERSION_FILE = path.join(__dirname, '..', 'lambda-python-version.txt');

// The Lambda Python runtimes run on Amazon Linux 2023 (glibc 2.34). pip gets every manylinux tag
// that glibc accepts, newest first, because a package may publish only some of them:
// argon2-cffi-bindings ships aarch64 wheels only as manylinux_2_26/_2_28. For an explicit
// --platform, pip does not derive the older tags itself.
const GLIBC_MINORS = [34, 28, 26, 17];
const MACHINES = { x86_64: 'x86_64', arm64: 'aarch64' };

function pythonVersion() {
  const text = fs.readFileSync(VERSION_FILE, 'utf8').trim();
  if (!/^\d+\.\d+$/.test(text)) {
    throw new Error(`${VERSION_FILE}: expected MAJOR.MINOR (such as 3.13), got ${JSON.stringify(text)}`);
  }
  return text;
}

async function typed(resolveVariable) {
  try {
    return await params.fromResolver(resolveVariable);
  } catch (error) {
    if (error instanceof params.ParamError) throw new Error(error.message);
    throw error;
  }
}

// pip install arguments for serverless-python-requirements (custom.pythonRequirements): binary
// wheels only, hash-checked against requirements.txt, for the runtime's CPython and CPU whatever
// machine builds the zip.
function pipArguments(architecture, version) {
  const machine = MACHINES[architecture];
  const abi = `cp${version.replace('.', '')}`;
  const platforms = GLIBC_MINORS.flatMap((minor) => [
    '--platform',
    `manylinux_2_${minor}_${machine}`,
  ]);
  return [
    '--only-binary=:all:',
    '--no-compile',
    '--require-hashes',
    ...platforms,
    '--platform',
    `manylinux2014_${machine}`,
    '--implementation',
    'cp',
    '--python-version',
    version,
    '--abi',
    abi,
    '--abi',
    'abi3',
    '--abi',
    'none',
  ];
}

module.exports = {
  pythonVersion,
  pipArguments,
  version: () => pythonVersion(),
  runtime: () => `python${pythonVersion()}`,
  architecture: async ({ resolveVariable }) => (await typed(resolveVariable)).architecture,
  pipCmdExtraArgs: async ({ resolveVariable }) =>
    pipArguments((await typed(resolveVariable)).architecture, pythonVersion()),
  // Without SnapStart nothing invokes a published version: publish none. With it, osls publishes
  // one per deploy (behind the "snapstart" alias), each keeping a cached snapshot; keep the
  // newest snapStartVersions and delete the older ones after every deploy (osls's own prune,
  // provider.pruneFunctionVersions). osls's number counts the versions no alias points at, so
  // the alias's version (the newest) plus snapStartVersions - 1 others. docs/cost.md.
  versionFunctions: async ({ resolveVariable }) => (await typed(resolveVariable)).snapStart,
  pruneFunctionVersions: async ({ resolveVariable }) => {
    const p = await typed(resolveVariable);
    return p.snapStart ? { number: p.snapStartVersions - 1 } : false;
  },
};
