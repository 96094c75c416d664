'use strict';

// Local plugin: adjust the in-memory config for local emulation only, that is for
// `osls offline` and `osls invoke local`. Deployments and `package` are untouched.
//
// 1. offline only: serve one API Gateway flavour. serverless-offline 14 serves `http` (REST,
//    payload v1) and `httpApi` (payload v2) events on one port, so `httpApi: '*'` (hapi route
//    /{default*}, any method) and REST `ANY /{proxy+}` (/{proxy*}) collide and startup dies with
//    "AssertError: New route /{proxy*} conflicts with existing /{default*}". The other flavour's
//    events are dropped. custom.offlineEvents: httpApi (default; v2 payloads, like HTTP API and
//    function URLs) or http (REST v1); per run: --param="offlineEvents=http". The REST API is
//    opt-in for deploys (param restApi), so the http flavour serves custom.restApiEvents even
//    when the deploy config has no REST events.
// 2. offline and invoke local: drop environment values that are CloudFormation intrinsics
//    (e.g. USERS_TABLE: !Ref UsersTable). serverless-offline would pass "[object Object]";
//    `invoke local` would ask CloudFormation for the stack's resources and fail offline. Without
//    them the shell's value applies if set (USERS_TABLE=... for a local DynamoDB), else the
//    app's default (SQLite).
// 3. offline only: turn off serverless-offline's built-in CORS emulation. Its hapi
//    onPreResponse hook rewrites every response to a request carrying an Origin header: an
//    OPTIONS preflight becomes a 200 whatever the function answered, and other responses gain
//    access-control-allow-origin (echoing the Origin) and allow-credentials: true. API Gateway
//    and ALB do nothing of the kind unless CORS is configured on them, which it is not here:
//    the app answers preflights itself. Without this, `make run` would not show what AWS does.
// 4. offline only: close the Lambda invoke port (LAMBDA_PORT) to web pages. Its routes
//    (POST /2015-03-31/functions/<name>/invocations, and the async one) carry hapi's CORS with
//    serverless-offline's default origin '*', which echoes any Origin: any page a developer
//    visits during `make run` could invoke the function and read the answer. Their CORS is
//    turned off, and a request carrying an Origin header (browsers send one on every
//    cross-origin POST, even when they need no preflight; the AWS SDKs and CLI never do) is
//    refused with 403 before it reaches the function.

const { takenPortMessage } = require('./ports');

const FLAVOURS = ['httpApi', 'http'];
// serverless-offline's own defaults, when neither the CLI nor custom.serverless-offline says.
const OFFLINE_DEFAULT_PORTS = { httpPort: 3000, lambdaPort: 3002 };

class LocalEmulationPlugin {
  constructor(serverless, cliOptions, { log } = {}) {
    this.serverless = serverless;
    this.cliOptions = cliOptions || {};
    this.log = log || { notice: console.log };
    this.hooks = { initialize: () => this.initialize() };
  }

  initialize() {
    const [command, subcommand] = this.serverless.processedInput.commands;
    const offline = command === 'offline';
    if (offline) {
      this.selectOfflineEvents();
      this.disableOfflineCors();
      this.closeInvokePortToBrowsers();
      this.reportTakenPorts();
    }
    if (offline || (command === 'invoke' && subcommand === 'local')) this.dropIntrinsicEnv();
  }

  selectOfflineEvents() {
    const service = this.serverless.service;
    const keep = String((service.custom || {}).offlineEvents || 'httpApi');
    if (!FLAVOURS.includes(keep)) {
      throw new this.serverless.classes.Error(
        `custom.offlineEvents must be one of ${FLAVOURS.join(', ')}, got ${JSON.stringify(keep)}`
      );
    }
    const drop = FLAVOURS.filter((flavour) => flavour !== keep);
    for (const name of service.getAllFunctions()) {
      const fn = service.getFunction(name);
      fn.events = (fn.events || []).filter((event) => !drop.some((key) => key in event));
      if (keep === 'http' && !fn.events.some((event) => 'http' in event)) {
        fn.events.push(...((service.custom || {}).restApiEvents || []));
      }
    }
    this.log.notice(`local-emulation: offline serves ${keep} events only (${drop} dropped)`);
  }

  disableOfflineCors() {
    // serverless-offline imports the same CommonJS @hapi/hapi instance; skipping its
    // onPreResponse registration is the only way in (the server is a private field).
    const hapi = require('@hapi/hapi');
    const prototype = Object.getPrototypeOf(hapi.server({ autoListen: false }));
    if (prototype.ext.localEmulationPatched) return;
    const ext = prototype.ext;
    prototype.ext = function (event, ...rest) {
      if (event === 'onPreResponse') return undefined;
      return ext.call(this, event, ...rest);
    };
    prototype.ext.localEmulationPatched = true;
  }

  closeInvokePortToBrowsers() {
    const hapi = require('@hapi/hapi');
    const prototype = Object.getPrototypeOf(hapi.server({ autoListen: false }));
    if (prototype.route.localEmulationPatched) return;
    const route = prototype.route;
    prototype.route = function (routes, ...rest) {
      const invokeRoutes = [].concat(routes).filter(isInvokeRoute);
      for (const invoke of invokeRoutes) invoke.options = { ...invoke.options, cors: false };
      if (invokeRoutes.length > 0) this.ext('onRequest', refuseBrowsers);
      return route.call(this, routes, ...rest);
    };
    prototype.route.localEmulationPatched = true;
  }

  reportTakenPorts() {
    const custom = (this.serverless.service.custom || {})['serverless-offline'] || {};
    const [httpPort, lambdaPort] = ['httpPort', 'lambdaPort'].map((name) =>
      Number(this.cliOptions[name] ?? custom[name] ?? OFFLINE_DEFAULT_PORTS[name])
    );
    const hapi = require('@hapi/hapi');
    const prototype = Object.getPrototypeOf(hapi.server({ autoListen: false }));
    if (prototype.start.localEmulationPatched) return;
    const start = prototype.start;
    prototype.start = async function (...args) {
      try {
        return await start.apply(this, args);
      } catch (error) {
        const reasons = { EADDRINUSE: 'in use', EACCES: 'not allowed (ports below 1024 need root)' };
        const reason = error && reasons[error.code];
        if (!reason) throw error;
        const port = Number(error.port ?? this.settings.port);
        const which = port === lambdaPort ? 'lambda' : 'http';
        const message = await takenPortMessage(which, port, reason, httpPort, lambdaPort);
        process.stderr.write(`error: ${message}\n`);
        process.exit(1);
      }
    };
    prototype.start.localEmulationPatched = true;
  }

  dropIntrinsicEnv() {
    const service = this.serverless.service;
    const scopes = [service.provider];
    for (const name of service.getAllFunctions()) scopes.push(service.getFunction(name));
    const dropped = new Set();
    for (const scope of scopes) {
      const environment = scope.environment || {};
      for (const [key, value] of Object.entries(environment)) {
        if (value !== null && typeof value === 'object') {
          delete environment[key];
          dropped.add(key);
        }
      }
    }
    if (dropped.size > 0) {
      const names = [...dropped].join(', ');
      this.log.notice(`local-emulation: CloudFormation values left unset locally: ${names}`);
    }
  }
}

// The Lambda Invoke API's paths: /2015-03-31/functions/{functionName}/invocations and
// /2014-11-13/functions/{functionName}/invoke-async/.
function isInvokeRoute(route) {
  return /^\/\d{4}-\d{2}-\d{2}\/functions\//.test(String(route.path));
}

function refuseBrowsers(request, h) {
  if (request.headers.origin === undefined) return h.continue;
  return h
    .response({ message: 'The Lambda invoke port refuses requests from web pages (Origin set).' })
    .code(403)
    .takeover();
}

module.exports = LocalEmulationPlugin;
