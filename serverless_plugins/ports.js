'use strict';

// The two ports `make run` needs: serverless-offline's HTTP port (the API, PORT) and its Lambda
// invoke port (LAMBDA_PORT, PORT - 1998 by default: 5000 -> 3002, serverless-offline's own
// default). A taken port must give one line naming the port and the make variable to change,
// never hapi's EADDRINUSE stack trace. Two places ask:
//
//   node serverless_plugins/ports.js check PORT LAMBDA_PORT
//     The Makefile, before installing or starting anything: prints the problem as one line on
//     stdout (make turns it into its error), or nothing when both ports are free.
//   local-emulation.js
//     The moment serverless-offline listens, for a port taken after that check (the race).
//
// A port counts as taken when binding it on 127.0.0.1 fails, and also when something answers a
// connection to it on 127.0.0.1 or [::1]: on macOS, AirPlay listens on *:5000 and a bind to
// 127.0.0.1:5000 still succeeds there, but curl's localhost:5000 may reach AirPlay.

const net = require('node:net');

const HOST = '127.0.0.1';
const LAMBDA_PORT_OFFSET = 1998;
const CONNECT_TIMEOUT_MS = 300;

function bindProblem(port, host = HOST) {
  // Resolves to null when the port can be bound, else the error code (EADDRINUSE, EACCES).
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error) => resolve(error.code || String(error)));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

function answers(port, host) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (result) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

// null when `port` is free for the emulator, else a short reason ("in use", ...).
async function portProblem(port) {
  const code = await bindProblem(port);
  if (code === 'EADDRINUSE') return 'in use';
  if (code === 'EACCES') return 'not allowed (ports below 1024 need root)';
  if (code) return `not usable (${code})`;
  if ((await answers(port, HOST)) || (await answers(port, '::1'))) return 'in use';
  return null;
}

async function nextFree(port, taken, alsoFree = () => null) {
  for (let candidate = port + 1; candidate <= 65535 && candidate < port + 200; candidate += 1) {
    const partner = alsoFree(candidate);
    if (taken.includes(candidate) || (partner !== null && taken.includes(partner))) continue;
    if (partner !== null && (partner < 1 || (await portProblem(partner)))) continue;
    if (!(await portProblem(candidate))) return candidate;
  }
  return null;
}

// The one line for a taken HTTP port (which) 'http' or Lambda port 'lambda'.
async function takenPortMessage(which, port, reason, httpPort, lambdaPort) {
  if (which === 'lambda') {
    const other = await nextFree(port, [httpPort]);
    const fix = other ? `run make run LAMBDA_PORT=${other}` : 'pass LAMBDA_PORT=<a free port>';
    return `port ${port} (the emulator's Lambda port) is ${reason}; ${fix}`;
  }
  const other = await nextFree(port, [lambdaPort], (candidate) => candidate - LAMBDA_PORT_OFFSET);
  const fix = other ? `run make run PORT=${other}` : 'pass PORT=<a free port>';
  return `port ${port} is ${reason}; ${fix}`;
}

function parsePort(name, raw) {
  const text = String(raw ?? '').trim();
  const port = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    return { error: `${name}=${text} is not a port number (1-65535); pass ${name}=<a free port>` };
  }
  return { port };
}

// The problem with running on these two ports as one line, or null.
async function checkPorts(rawHttpPort, rawLambdaPort) {
  const http = parsePort('PORT', rawHttpPort);
  if (http.error) return http.error;
  const lambda = parsePort('LAMBDA_PORT', rawLambdaPort);
  if (lambda.error) return lambda.error;
  if (http.port === lambda.port) {
    return `PORT and LAMBDA_PORT are both ${http.port}; pass a different LAMBDA_PORT`;
  }
  for (const [which, port] of [
    ['http', http.port],
    ['lambda', lambda.port],
  ]) {
    const reason = await portProblem(port);
    if (reason) return takenPortMessage(which, port, reason, http.port, lambda.port);
  }
  return null;
}

module.exports = { HOST, LAMBDA_PORT_OFFSET, checkPorts, takenPortMessage };

if (require.main === module) {
  const [command, httpPort, lambdaPort] = process.argv.slice(2);
  if (command !== 'check') {
    console.error('usage: node serverless_plugins/ports.js check PORT LAMBDA_PORT');
    process.exit(2);
  }
  checkPorts(httpPort, lambdaPort).then((problem) => {
    if (problem) process.stdout.write(`${problem}\n`);
  });
}
