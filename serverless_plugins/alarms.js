'use strict';

// CloudWatch alarms for the stack, added by stack-hardening.js to the compiled template:
// function errors, throttles and p99 duration near the timeout; 5xx on every API Gateway front
// door present; DynamoDB throttled requests and system errors on the users table; and, from the
// function's own metrics, rises in 401s, in 429s (with throttles) and in cross-site 403s.
// alarmEmail=<address> creates an SNS topic with that email subscribed (the address must confirm
// the subscription); alarmTopicArn=<arn> uses an existing topic. Without either, the alarms only
// change state (visible in the console and `aws cloudwatch describe-alarms`).

const FIVE_MINUTES = 300;
// The function's own metrics (app/metrics.py): namespace, and the stage as their dimension.
const NAMESPACE = 'UserApi';
// Signs of an attack, per five minutes. Guessing at passwords: 401s; accounts waiting out
// wrong passwords and invocations throttled: 429s; forged cross-site form posts: 403s.
const UNAUTHORIZED_SPIKE = 50;
const TOO_MANY_REQUESTS_SPIKE = 20;
const CROSS_SITE_SPIKE = 10;
// p99 duration alarm threshold, as a share of the function timeout.
const DURATION_SHARE_OF_TIMEOUT = 0.8;

function alarm({ description, namespace, metric, dimensions, statistic, threshold }) {
  const properties = {
    AlarmDescription: description,
    Namespace: namespace,
    MetricName: metric,
    Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })),
    Period: FIVE_MINUTES,
    EvaluationPeriods: 1,
    Threshold: threshold,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    // No traffic is not an outage; a missing datapoint must not page anyone.
    TreatMissingData: 'notBreaching',
  };
  if (statistic.startsWith('p')) properties.ExtendedStatistic = statistic;
  else properties.Statistic = statistic;
  return { Type: 'AWS::CloudWatch::Alarm', Properties: properties };
}

// DynamoDB publishes ThrottledRequests and SystemErrors per (TableName, Operation): one
// Metrics Insights query sums every operation, so no list of operations is kept here.
function tableAlarm(description, metric, tableName) {
  const query =
    `SELECT SUM(${metric}) FROM SCHEMA("AWS/DynamoDB", Operation, TableName) ` +
    `WHERE TableName = '${tableName}'`;
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmDescription: description,
      Metrics: [{ Id: 'q1', Expression: query, Period: FIVE_MINUTES, ReturnData: true }],
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    },
  };
}

// One of the function's own metrics (UserApi namespace), summed per stage.
function appMetricAlarm(description, metric, stage, threshold) {
  return alarm({
    description,
    namespace: NAMESPACE,
    metric,
    dimensions: { Stage: stage },
    statistic: 'Sum',
    threshold,
  });
}

// 429s the function answers (account waits and any other) plus invocations Lambda throttled:
// a client flooding the API shows in one or the other.
function tooManyRequestsAlarm(stage, functionName) {
  const stat = (id, namespace, metric, dimensions) => ({
    Id: id,
    MetricStat: {
      Metric: {
        Namespace: namespace,
        MetricName: metric,
        Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })),
      },
      Period: FIVE_MINUTES,
      Stat: 'Sum',
    },
    ReturnData: false,
  });
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmDescription:
        'A rise in 429s: accounts waiting out wrong passwords, other 429s, throttled invocations',
      Metrics: [
        stat('waits', NAMESPACE, 'AccountWaits', { Stage: stage }),
        stat('others', NAMESPACE, 'TooManyRequests', { Stage: stage }),
        stat('throttles', 'AWS/Lambda', 'Throttles', { FunctionName: functionName }),
        {
          Id: 'total',
          Label: '429s and throttles',
          Expression: 'FILL(waits, 0) + FILL(others, 0) + FILL(throttles, 0)',
          ReturnData: true,
        },
      ],
      EvaluationPeriods: 1,
      Threshold: TOO_MANY_REQUESTS_SPIKE,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    },
  };
}

function add({ template, params: p, stage, functionLogicalId, timeoutSeconds }) {
  const resources = template.Resources;
  const functionName = { Ref: functionLogicalId };
  const found = {
    FunctionErrorsAlarm: alarm({
      description: 'The function raised errors (uncaught exceptions, timeouts, crashes)',
      namespace: 'AWS/Lambda',
      metric: 'Errors',
      dimensions: { FunctionName: functionName },
      statistic: 'Sum',
      threshold: 1,
    }),
    FunctionThrottlesAlarm: alarm({
      description: 'Invocations were throttled: reserved concurrency is exhausted',
      namespace: 'AWS/Lambda',
      metric: 'Throttles',
      dimensions: { FunctionName: functionName },
      statistic: 'Sum',
      threshold: 1,
    }),
    FunctionDurationAlarm: alarm({
      description: `p99 duration is above ${DURATION_SHARE_OF_TIMEOUT * 100}% of the timeout`,
      namespace: 'AWS/Lambda',
      metric: 'Duration',
      dimensions: { FunctionName: functionName },
      statistic: 'p99',
      threshold: Math.round(timeoutSeconds * 1000 * DURATION_SHARE_OF_TIMEOUT),
    }),
  };
  if (resources.HttpApi) {
    found.HttpApi5xxAlarm = alarm({
      description: 'The HTTP API answered 5xx',
      namespace: 'AWS/ApiGateway',
      metric: '5xx',
      dimensions: { ApiId: { Ref: 'HttpApi' } },
      statistic: 'Sum',
      threshold: 1,
    });
  }
  if (resources.ApiGatewayRestApi) {
    found.RestApi5xxAlarm = alarm({
      description: 'The REST API answered 5xx',
      namespace: 'AWS/ApiGateway',
      metric: '5XXError',
      dimensions: { ApiName: resources.ApiGatewayRestApi.Properties.Name },
      statistic: 'Sum',
      threshold: 1,
    });
  }
  const tableName = p.usersTable || resources.UsersTable.Properties.TableName;
  found.UsersTableThrottlesAlarm = tableAlarm(
    'DynamoDB throttled requests on the users table',
    'ThrottledRequests',
    tableName
  );
  found.UsersTableSystemErrorsAlarm = tableAlarm(
    'DynamoDB system errors (HTTP 500 from DynamoDB) on the users table',
    'SystemErrors',
    tableName
  );

  found.UnauthorizedSpikeAlarm = appMetricAlarm(
    'A rise in 401s: someone may be guessing passwords',
    'Unauthorized',
    stage,
    UNAUTHORIZED_SPIKE
  );
  found.TooManyRequestsSpikeAlarm = tooManyRequestsAlarm(stage, functionName);
  found.CrossSiteSpikeAlarm = appMetricAlarm(
    'A rise in cross-site form posts refused (403): a page elsewhere is forging requests',
    'CrossSiteRefusals',
    stage,
    CROSS_SITE_SPIKE
  );

  let actions = null;
  if (p.alarmEmail) {
    resources.AlarmTopic = { Type: 'AWS::SNS::Topic', Properties: {} };
    resources.AlarmEmailSubscription = {
      Type: 'AWS::SNS::Subscription',
      Properties: { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: p.alarmEmail },
    };
    actions = [{ Ref: 'AlarmTopic' }];
  } else if (p.alarmTopicArn) {
    actions = [p.alarmTopicArn];
  }
  for (const [logicalId, resource] of Object.entries(found)) {
    if (actions) {
      resource.Properties.AlarmActions = actions;
      resource.Properties.OKActions = actions;
    }
    resources[logicalId] = resource;
  }
}

module.exports = { add, NAMESPACE };
