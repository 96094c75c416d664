'use strict';

// The Lambda runtime's Python version from its one setting, lambda-python-version.txt (also read
// by the Makefile and scripts/lambda_python.py). serverless.yml:
//   runtime: ${file(./serverless_plugins/lambda-python.js):runtime}    -> "python3.13"
//   ...${file(./serverless_plugins/lambda-python.js):version}          -> "3.13"

const fs = require('fs');
const path = require('path');

const VERSION_FILE = path.join(__dirname, '..', 'lambda-python-version.txt');

function version() {
  const text = fs.readFileSync(VERSION_FILE, 'utf8').trim();
  if (!/^\d+\.\d+$/.test(text)) {
    throw new Error(`${VERSION_FILE}: expected MAJOR.MINOR (such as 3.13), got ${JSON.stringify(text)}`);
  }
  return text;
}

module.exports = {
  version: () => version(),
  runtime: () => `python${version()}`,
};
