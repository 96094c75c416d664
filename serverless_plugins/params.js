'use strict';

// Typed, validated deploy params. serverless.yml lists every param once, with its default, under
// custom.params (`${param:name, default}`); CLI params arrive as strings, so this module turns
// them into booleans, integers and enums, and fails the command with the param's name on a bad
// value instead of letting CloudFormation reject (or silently accept) it later.
// Used by api-events.js (variable resolvers) and the stack plugins.

class ParamError extends Error {}

function toBool(value, name) {
  if (typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new ParamError(`param ${name} must be true or false, got ${JSON.stringify(value)}`);
}

function toInt(value, name, min, max) {
  const number = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new ParamError(
      `param ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`
    );
  }
  return number;
}

function toChoice(value, name, choices) {
  const text = String(value).trim();
  if (!choices.includes(text)) {
    throw new ParamError(
      `param ${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`
    );
  }
  return text;
}

function toText(value) {
  return value == null ? '' : String(value).trim();
}

function toArnOrEmpty(value, name, service) {
  const text = toText(value);
  if (text && !text.startsWith(`arn:`)) {
    throw new ParamError(`param ${name} must be an ${service} ARN, got ${JSON.stringify(value)}`);
  }
  return text;
}

function toTableName(value) {
  const text = toText(value);
  if (text && !/^[a-zA-Z0-9_.-]{3,255}$/.test(text)) {
    throw new ParamError(`param usersTable must be a DynamoDB table name, got ${JSON.stringify(value)}`);
  }
  return text;
}

function toEmailOrEmpty(value) {
  const text = toText(value);
  if (text && !/^[^@\s]+@[^@\s]+$/.test(text)) {
    throw new ParamError(`param alarmEmail must be an email address, got ${JSON.stringify(value)}`);
  }
  return text;
}

// AWS WAF's rate-based rules count at least 10 requests per window.
function toPerClientRateLimit(raw, restApi) {
  const limit = toInt(raw, 'perClientRateLimit', 0, 2000000000);
  if (limit !== 0 && limit < 10) {
    throw new ParamError(`param perClientRateLimit must be 0 (off) or at least 10, got ${limit}`);
  }
  if (limit !== 0 && !restApi) {
    throw new ParamError(
      'param perClientRateLimit needs restApi=true: AWS WAF attaches to a REST API stage, not to' +
        ' an HTTP API (docs/security.md: per-client limits)'
    );
  }
  return limit;
}

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

// raw: custom.params as resolved by the framework.
function parse(raw) {
  const restApi = toBool(raw.restApi, 'restApi');
  return {
    restApi,
    perClientRateLimit: toPerClientRateLimit(raw.perClientRateLimit, restApi),
    functionUrl: toChoice(raw.functionUrl, 'functionUrl', ['off', 'iam', 'public']),
    albListenerArn: toArnOrEmpty(raw.albListenerArn, 'albListenerArn', 'ELB listener'),
    albPriority: toInt(raw.albPriority, 'albPriority', 1, 50000),
    albMultiValueHeaders: toBool(raw.albMultiValueHeaders, 'albMultiValueHeaders'),
    latticeTarget: toBool(raw.latticeTarget, 'latticeTarget'),
    latticeEventVersion: toChoice(raw.latticeEventVersion, 'latticeEventVersion', ['V1', 'V2']),
    rateLimit: toInt(raw.rateLimit, 'rateLimit', 1, 10000),
    burstLimit: toInt(raw.burstLimit, 'burstLimit', 1, 5000),
    signUpRateLimit: toInt(raw.signUpRateLimit, 'signUpRateLimit', 1, 10000),
    signUpBurstLimit: toInt(raw.signUpBurstLimit, 'signUpBurstLimit', 1, 5000),
    reservedConcurrency: toInt(raw.reservedConcurrency, 'reservedConcurrency', 1, 1000),
    tracing: toBool(raw.tracing, 'tracing'),
    snapStart: toBool(raw.snapStart, 'snapStart'),
    snapStartVersions: toInt(raw.snapStartVersions, 'snapStartVersions', 2, 50),
    architecture: toChoice(raw.architecture, 'architecture', ['x86_64', 'arm64']),
    logLevel: toChoice(raw.logLevel, 'logLevel', LOG_LEVELS),
    systemLogLevel: toChoice(raw.systemLogLevel, 'systemLogLevel', ['DEBUG', 'INFO', 'WARN']),
    alarmEmail: toEmailOrEmpty(raw.alarmEmail),
    alarmTopicArn: toArnOrEmpty(raw.alarmTopicArn, 'alarmTopicArn', 'SNS topic'),
    usersTable: toTableName(raw.usersTable),
  };
}

// For plugins: the params of the running command (variables are resolved by then).
function fromService(serverless) {
  const custom = serverless.service.custom || {};
  try {
    return parse(custom.params || {});
  } catch (error) {
    if (error instanceof ParamError) throw new serverless.classes.Error(error.message);
    throw error;
  }
}

// For `${file(./serverless_plugins/params.js):...}` resolvers.
async function fromResolver(resolveVariable) {
  return parse(await resolveVariable('self:custom.params'));
}

module.exports = { parse, fromService, fromResolver, ParamError };
