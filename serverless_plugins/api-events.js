'use strict';

// Variable resolvers for the function's front doors (functions.api.events and .url) and the
// values that must be typed (reserved concurrency, throttles). YAML cannot add a list item or
// an object conditionally, hence these resolvers. Every param is declared once, with its
// default, in serverless.yml's custom.params and typed by params.js.
//
// Front doors: the HTTP API always; the REST API (restApi=true), the function URL
// (functionUrl=iam|public), the ALB (albListenerArn=...) only when asked. The VPC Lattice target
// group (latticeTarget=true) is a plain resource, see serverless_plugins/stack-hardening.js.

const params = require('./params');

// Its own route (not only the catch-all) so the HTTP API stage can throttle it harder: every
// sign-up costs a password hash.
const SIGN_UP = { method: 'POST', path: '/userSignUp' };

async function typed(resolveVariable) {
  try {
    return await params.fromResolver(resolveVariable);
  } catch (error) {
    if (error instanceof params.ParamError) throw new Error(error.message);
    throw error;
  }
}

module.exports.events = async ({ resolveVariable }) => {
  const p = await typed(resolveVariable);
  const events = [{ httpApi: '*' }, { httpApi: SIGN_UP }];
  if (p.restApi) events.push(...(await resolveVariable('self:custom.restApiEvents')));
  if (p.albListenerArn) {
    events.push({
      alb: {
        listenerArn: p.albListenerArn,
        priority: p.albPriority,
        multiValueHeaders: p.albMultiValueHeaders,
        conditions: { path: '/*' },
      },
    });
  }
  return events;
};

// functionUrl=off: no URL. iam: AuthType AWS_IAM (callers sign with SigV4 and need
// lambda:InvokeFunctionUrl). public: AuthType NONE, anyone on the internet.
module.exports.url = async ({ resolveVariable }) => {
  const { functionUrl } = await typed(resolveVariable);
  if (functionUrl === 'off') return false;
  if (functionUrl === 'iam') return { authorizer: 'aws_iam' };
  return true;
};

module.exports.snapStart = async ({ resolveVariable }) => (await typed(resolveVariable)).snapStart;

module.exports.reservedConcurrency = async ({ resolveVariable }) =>
  (await typed(resolveVariable)).reservedConcurrency;

// Lambda only. The REST stage's X-Ray switch is StageDescription.TracingEnabled
// (stack-hardening.js); setting provider.tracing.apiGateway as well would make osls's
// post-deploy stage fix-up run, and it deletes the log group /aws/api-gateway/<service>-<stage>
// (our RestApiAccessLogGroup) whenever provider.logs.restApi is unset.
module.exports.tracing = async ({ resolveVariable }) => {
  const { tracing } = await typed(resolveVariable);
  return { lambda: tracing };
};

module.exports.lambdaLogs = async ({ resolveVariable }) => {
  const p = await typed(resolveVariable);
  return { logFormat: 'JSON', applicationLogLevel: p.logLevel, systemLogLevel: p.systemLogLevel };
};

// resources.extensions.HttpApiStage.Properties: the extension replaces these keys whole, so
// DetailedMetricsEnabled (osls's own default) is restated.
module.exports.httpApiStageSettings = async ({ resolveVariable }) => {
  const p = await typed(resolveVariable);
  return {
    DefaultRouteSettings: {
      DetailedMetricsEnabled: false,
      ThrottlingRateLimit: p.rateLimit,
      ThrottlingBurstLimit: p.burstLimit,
    },
    RouteSettings: {
      [`${SIGN_UP.method} ${SIGN_UP.path}`]: {
        ThrottlingRateLimit: p.signUpRateLimit,
        ThrottlingBurstLimit: p.signUpBurstLimit,
      },
    },
  };
};
