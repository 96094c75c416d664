'use strict';

// The stack's CloudWatch dashboard, added by stack-hardening.js: the function's own metrics
// (app/metrics.py, namespace UserApi, per stage), latency percentiles, errors and throttles.
// docs/operations.md says what each graph shows.

const { NAMESPACE } = require('./alarms');

const PERIOD = 300;
const WIDTH = 12;
const HEIGHT = 6;

// The function's own metrics, by graph. Every name app/metrics.py emits is on one of them
// (tests/test_template.py checks both ways).
const APP_GRAPHS = [
  ['Requests and cold starts', ['Requests', 'ColdStarts']],
  ['Accounts', ['SignUps', 'DetailsWrites', 'DetailsReads', 'PasswordChanges', 'Erasures']],
  [
    'Refused',
    ['Unauthorized', 'WrongPasswords', 'Forbidden', 'CrossSiteRefusals', 'Conflicts'],
  ],
  ['Waits (429)', ['AccountWaits', 'TooManyRequests']],
  ['Server errors', ['StoreUnavailable', 'UnexpectedErrors']],
];

// CloudFormation fills these in: ${AWS::Region}, and the function's and APIs' names.
function metricsWidget(title, metrics, extra = {}) {
  return {
    type: 'metric',
    width: WIDTH,
    height: HEIGHT,
    properties: {
      title,
      region: '${AWS::Region}',
      view: 'timeSeries',
      stat: 'Sum',
      period: PERIOD,
      metrics,
      ...extra,
    },
  };
}

function widgets({ template, stage, functionLogicalId }) {
  const fn = ['FunctionName', `\${${functionLogicalId}}`];
  const found = APP_GRAPHS.map(([title, names]) =>
    metricsWidget(
      title,
      names.map((name) => [NAMESPACE, name, 'Stage', stage])
    )
  );
  const latency = ['p50', 'p90', 'p99'].map((stat) => [
    'AWS/Lambda',
    'Duration',
    ...fn,
    { stat, label: `function ${stat}` },
  ]);
  if (template.Resources.HttpApi) {
    for (const stat of ['p50', 'p99']) {
      latency.push(['AWS/ApiGateway', 'Latency', 'ApiId', '${HttpApi}', { stat, label: `HTTP API ${stat}` }]);
    }
  }
  found.push(metricsWidget('Latency (ms)', latency, { stat: 'p99' }));
  const errors = [
    ['AWS/Lambda', 'Errors', ...fn],
    [NAMESPACE, 'UnexpectedErrors', 'Stage', stage],
  ];
  if (template.Resources.HttpApi) {
    errors.push(['AWS/ApiGateway', '5xx', 'ApiId', '${HttpApi}']);
  }
  found.push(metricsWidget('Errors', errors));
  found.push(
    metricsWidget('Throttles and concurrency', [
      ['AWS/Lambda', 'Throttles', ...fn],
      ['AWS/Lambda', 'ConcurrentExecutions', ...fn, { stat: 'Maximum' }],
    ])
  );
  return found;
}

function add(context) {
  const { template, service, stage } = context;
  template.Resources.Dashboard = {
    Type: 'AWS::CloudWatch::Dashboard',
    Properties: {
      DashboardName: `${service}-${stage}`,
      DashboardBody: { 'Fn::Sub': JSON.stringify({ widgets: widgets(context) }) },
    },
  };
}

module.exports = { add, APP_GRAPHS };
