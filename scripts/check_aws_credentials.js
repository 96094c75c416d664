'use strict';

// Before an AWS-facing osls command (deploy, info, logs, remove, ...) builds or sends anything:
// do the caller's credentials resolve to an AWS identity? Asks STS GetCallerIdentity through the
// AWS SDK for JavaScript that osls already depends on, with the SDK's default credential chain
// (environment, AWS_PROFILE and ~/.aws, SSO, web identity, container and instance roles) and
// the standard endpoint overrides (AWS_ENDPOINT_URL, as the moto rehearsal sets).
//
//   node scripts/check_aws_credentials.js [REGION]
//
// Success: one line on stderr naming the account and caller, exit 0. Failure: ONE line on stderr
// saying why and where to read on, exit 2, within TIMEOUT_MS.

const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');

const TIMEOUT_MS = 15000;
const HELP = 'see docs/deployment.md#aws-credentials';

function oneLine(text) {
  return String(text || '').replace(/\s+/g, ' ').trim();
}

async function main() {
  const region =
    process.argv[2] || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
  const client = new STSClient({ region, maxAttempts: 2 });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  try {
    const identity = await client.send(new GetCallerIdentityCommand({}), {
      abortSignal: abort.signal,
    });
    process.stderr.write(`AWS account ${identity.Account}, as ${identity.Arn}\n`);
    return 0;
  } catch (error) {
    const why = abort.signal.aborted
      ? `no answer from STS within ${TIMEOUT_MS / 1000} s`
      : oneLine(error && (error.message || error.name));
    process.stderr.write(`error: AWS credentials do not resolve (${why}); ${HELP}\n`);
    return 2;
  } finally {
    clearTimeout(timer);
    client.destroy();
  }
}

main().then((status) => process.exit(status));
