'use strict';

// Local plugin: after the deployment zip is built (and serverless-python-requirements has added
// the dependencies), rewrite it with bytecode compiled by the runtime's Python (lambda-python-version.txt) in
// unchecked-hash mode, so Lambda uses it whatever the extracted files' timestamps are.
// Runs for `osls package` and `osls deploy` (both go through package:createDeploymentArtifacts)
// and for `osls deploy function`.
//
// custom.bytecode.pythonBin: interpreter (must be the runtime's version); default .venv/bin/python
// custom.bytecode.script:    the rewriting script; default scripts/compile_zip_bytecode.py
// custom.bytecode.depsLayout: sourceless (default) or pycache; see the script's docstring

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

class BytecodePlugin {
  constructor(serverless, cliOptions, { log } = {}) {
    this.serverless = serverless;
    this.log = log || { notice: console.log };
    this.hooks = {
      'after:package:createDeploymentArtifacts': () => this.compile(),
      'after:deploy:function:packageFunction': () => this.compile(),
    };
  }

  artifacts() {
    const service = this.serverless.service;
    const found = new Set();
    if (service.package && service.package.artifact) found.add(service.package.artifact);
    for (const name of service.getAllFunctions()) {
      const fn = service.getFunction(name);
      if (fn.package && fn.package.artifact) found.add(fn.package.artifact);
    }
    const serviceDir = this.serverless.serviceDir;
    return [...found]
      .map((artifact) => path.resolve(serviceDir, artifact))
      .filter((artifact) => artifact.endsWith('.zip') && fs.existsSync(artifact));
  }

  compile() {
    const serviceDir = this.serverless.serviceDir;
    const settings = (this.serverless.service.custom || {}).bytecode || {};
    const pythonBin = settings.pythonBin || '.venv/bin/python';
    const script = path.resolve(serviceDir, settings.script || 'scripts/compile_zip_bytecode.py');
    const depsLayout = settings.depsLayout || 'sourceless';
    const artifacts = this.artifacts();
    if (artifacts.length === 0) {
      throw new this.serverless.classes.Error('bytecode: no deployment zip found to compile');
    }
    const result = spawnSync(pythonBin, [script, '--deps-layout', depsLayout, ...artifacts], {
      cwd: serviceDir,
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    });
    if (result.error || result.status !== 0) {
      const why = result.error ? result.error.message : `exit status ${result.status}`;
      throw new this.serverless.classes.Error(`bytecode: ${pythonBin} ${script} failed: ${why}`);
    }
    for (const line of result.stdout.split('\n').filter(Boolean)) this.log.notice(line);
  }
}

module.exports = BytecodePlugin;
