'use strict';

// Edits to the compiled CloudFormation template that osls has no setting for. They run when the
// template is packaged (`osls package`, or `osls deploy` without --package), after
// serverless.yml's own resources are merged in, in this order:
//
// 1. REST API stage (restApi=true): osls makes the stage through the deployment resource, whose
//    logical id changes on every package, so resources.extensions cannot reach it. Set its
//    StageDescription: throttles (stage-wide and for POST /userSignUp), JSON access logs into
//    our own log group, X-Ray when tracing=true.
// 2. VPC Lattice target group (latticeTarget=true): TargetGroup of type LAMBDA plus the invoke
//    permission for vpc-lattice.amazonaws.com from that target group only. With snapStart=true
//    both name the "snapstart" alias, as osls's own events do; the bare function would run the
//    unpublished $LATEST, without SnapStart.
// 3. Alarms, see serverless_plugins/alarms.js (a separate unit).
// 4. usersTable=<name>: adopt an existing table instead of creating one (remove-then-redeploy).
//    The UsersTable resource is dropped and every Ref / GetAtt Arn to it becomes the named
//    table's name / ARN, so the function's environment, its IAM statement and the alarms all
//    follow. serverless.yml keeps one definition of the table.
// 5. Invoke permissions granted to an AWS service with neither SourceArn nor SourceAccount
//    (osls's ALB RegisterTarget permission: the target group cannot be named before it exists)
//    get SourceAccount, so no other account's load balancer can use them.
// 6. Redundant DependsOn: osls makes each HTTP API route depend on the integration its Target
//    already references. cfn-lint reports it (W3005), and moto's change sets reject it. Any
//    DependsOn entry naming a resource that the same resource already Refs / GetAtts is dropped;
//    CloudFormation derives that ordering from the reference anyway.
// 7. Log permissions: osls grants logs:CreateLogStream, logs:CreateLogGroup and
//    logs:TagResource on /aws/lambda/<service>-<stage>*, which also matches other stacks'
//    functions (user-api-dev2, user-api-dev-eu). The stack creates the function's log group, so
//    the function needs only to write streams into it: logs:CreateLogStream and
//    logs:PutLogEvents on exactly its own group.
// 8. perClientRateLimit=N (with restApi=true): an AWS WAF web ACL on the REST stage whose
//    rate-based rule blocks, with a 429 problem document, a client address that sends more
//    than N requests in 5 minutes, so one client cannot spend the stage's shared throttle.
//    The address is the connection's, which a client cannot set (no X-Forwarded-For).

const params = require('./params');
const alarms = require('./alarms');

const TABLE = 'UsersTable';
const FUNCTION = 'api';
const SIGN_UP_PATH = '/userSignUp';

// REST access log line: one JSON object per request. No query string, body or headers.
const REST_ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  lambdaRequestId: '$context.integration.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
});

class StackHardeningPlugin {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'after:aws:package:finalize:mergeCustomProviderResources': () => this.harden(),
    };
  }

  harden() {
    const provider = this.serverless.getProvider('aws');
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    const p = params.fromService(this.serverless);
    const context = {
      template,
      params: p,
      service: this.serverless.service.service,
      stage: provider.getStage(),
      functionLogicalId: provider.naming.getLambdaLogicalId(FUNCTION),
      logGroupLogicalId: provider.naming.getLogGroupLogicalId(FUNCTION),
      retentionInDays: provider.getLogRetentionInDays(),
      timeoutSeconds: this.serverless.service.getFunction(FUNCTION).timeout ||
        this.serverless.service.provider.timeout || 6,
    };
    configureRestStage(context);
    addLatticeTarget(context);
    alarms.add(context);
    if (p.usersTable) adoptTable(template, p.usersTable);
    scopeServicePermissions(template);
    dropRedundantDependsOn(template);
    scopeLogPermissions(context);
    addPerClientRateLimit(context);
  }
}

const PER_CLIENT_WINDOW_SECONDS = 300;

function addPerClientRateLimit({ template, params: p, service, stage }) {
  if (!p.perClientRateLimit) return;
  const deployments = resourcesOfType(template, 'AWS::ApiGateway::Deployment');
  if (deployments.length === 0) throw new Error('perClientRateLimit: no REST API stage to attach to');
  const name = `${service}-${stage}-per-client`;
  const visibility = (metric) => ({
    SampledRequestsEnabled: true,
    CloudWatchMetricsEnabled: true,
    MetricName: metric,
  });
  const problem = {
    type: 'about:blank',
    title: 'Too Many Requests',
    status: 429,
    detail: `More than ${p.perClientRateLimit} requests from this address in` +
      ` ${PER_CLIENT_WINDOW_SECONDS / 60} minutes; retry later.`,
  };
  template.Resources.PerClientWebAcl = {
    Type: 'AWS::WAFv2::WebACL',
    Metadata: {
      checkov: {
        skip: [
          {
            id: 'CKV_AWS_192',
            comment: 'Log4j lookups: the function is Python, no Java runs behind this API;' +
              ' the managed rule group would inspect (and bill) every request for nothing.',
          },
        ],
      },
    },
    Properties: {
      Name: name,
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      VisibilityConfig: visibility(name),
      CustomResponseBodies: {
        'too-many-requests': { ContentType: 'APPLICATION_JSON', Content: JSON.stringify(problem) },
      },
      Rules: [
        {
          Name: 'per-client-rate',
          Priority: 0,
          Statement: {
            RateBasedStatement: {
              Limit: p.perClientRateLimit,
              AggregateKeyType: 'IP',
              EvaluationWindowSec: PER_CLIENT_WINDOW_SECONDS,
            },
          },
          Action: {
            Block: {
              CustomResponse: { ResponseCode: 429, CustomResponseBodyKey: 'too-many-requests' },
            },
          },
          VisibilityConfig: visibility(`${name}-rate`),
        },
      ],
    },
  };
  template.Resources.PerClientWebAclAssociation = {
    Type: 'AWS::WAFv2::WebACLAssociation',
    // The stage is made by the deployment (osls): it must exist before WAF can attach to it.
    DependsOn: deployments.map(([logicalId]) => logicalId),
    Properties: {
      ResourceArn: {
        'Fn::Sub': `arn:\${AWS::Partition}:apigateway:\${AWS::Region}::/restapis/\${ApiGatewayRestApi}/stages/${stage}`,
      },
      WebACLArn: { 'Fn::GetAtt': ['PerClientWebAcl', 'Arn'] },
    },
  };
}

function scopeLogPermissions({ template, logGroupLogicalId }) {
  const role = template.Resources.IamRoleLambdaExecution;
  if (!role || !template.Resources[logGroupLogicalId]) return;
  for (const policy of role.Properties.Policies || []) {
    const statements = policy.PolicyDocument.Statement;
    const isLogs = (statement) => [].concat(statement.Action).some((a) => a.startsWith('logs:'));
    if (!statements.some(isLogs)) continue;
    policy.PolicyDocument.Statement = [
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // The log group's Arn ends in ":*": the group's streams, nothing else.
        Resource: { 'Fn::GetAtt': [logGroupLogicalId, 'Arn'] },
      },
      ...statements.filter((statement) => !isLogs(statement)),
    ];
  }
}

function resourcesOfType(template, type) {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

function configureRestStage({ template, params: p, service, stage, retentionInDays }) {
  const deployments = resourcesOfType(template, 'AWS::ApiGateway::Deployment');
  if (deployments.length === 0) return;
  template.Resources.RestApiAccessLogGroup = {
    Type: 'AWS::Logs::LogGroup',
    Properties: {
      LogGroupName: `/aws/api-gateway/${service}-${stage}`,
      RetentionInDays: retentionInDays,
    },
  };
  const throttle = (rate, burst) => ({ ThrottlingRateLimit: rate, ThrottlingBurstLimit: burst });
  for (const [, deployment] of deployments) {
    deployment.Properties.StageDescription = {
      ...throttle(p.rateLimit, p.burstLimit),
      AccessLogSetting: {
        DestinationArn: { 'Fn::GetAtt': ['RestApiAccessLogGroup', 'Arn'] },
        Format: REST_ACCESS_LOG_FORMAT,
      },
      MethodSettings: [
        { HttpMethod: '*', ResourcePath: '/*', ...throttle(p.rateLimit, p.burstLimit) },
        {
          HttpMethod: 'POST',
          // Method settings address a resource as "/" + its path with each "/" escaped as "~1".
          ResourcePath: `/${SIGN_UP_PATH.replaceAll('/', '~1')}`,
          ...throttle(p.signUpRateLimit, p.signUpBurstLimit),
        },
      ],
      TracingEnabled: p.tracing,
    };
  }
}

// What events should invoke: the SnapStart alias osls made for the function, if any.
function invokeTarget(template, functionLogicalId) {
  const aliases = resourcesOfType(template, 'AWS::Lambda::Alias').filter(
    ([, alias]) => alias.Properties.FunctionName?.Ref === functionLogicalId
  );
  if (aliases.length > 1) throw new Error(`several aliases of ${functionLogicalId}`);
  return aliases.length === 1 ? { Ref: aliases[0][0] } : { 'Fn::GetAtt': [functionLogicalId, 'Arn'] };
}

function addLatticeTarget({ template, params: p, service, stage, functionLogicalId }) {
  if (!p.latticeTarget) return;
  const functionArn = invokeTarget(template, functionLogicalId);
  template.Resources.LatticeTargetGroup = {
    Type: 'AWS::VpcLattice::TargetGroup',
    Properties: {
      Name: `${service}-${stage}`.toLowerCase(),
      Type: 'LAMBDA',
      Config: { LambdaEventStructureVersion: p.latticeEventVersion },
      Targets: [{ Id: functionArn }],
    },
  };
  template.Resources.LatticeInvokePermission = {
    Type: 'AWS::Lambda::Permission',
    Properties: {
      FunctionName: functionArn,
      Action: 'lambda:InvokeFunction',
      Principal: 'vpc-lattice.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': ['LatticeTargetGroup', 'Arn'] },
    },
  };
  template.Outputs.LatticeTargetGroupArn = {
    Description: 'VPC Lattice target group to attach to a Lattice service listener',
    Value: { 'Fn::GetAtt': ['LatticeTargetGroup', 'Arn'] },
  };
}

function adoptTable(template, tableName) {
  delete template.Resources[TABLE];
  const arn = {
    'Fn::Sub': `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${tableName}`,
  };
  const rewrite = (node) => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node === null || typeof node !== 'object') return node;
    if (node.Ref === TABLE) return tableName;
    const getAtt = node['Fn::GetAtt'];
    if (Array.isArray(getAtt) && getAtt[0] === TABLE) {
      if (getAtt[1] !== 'Arn') throw new Error(`cannot adopt a table: GetAtt ${getAtt.join('.')}`);
      return arn;
    }
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, rewrite(value)]));
  };
  template.Resources = rewrite(template.Resources);
  template.Outputs = rewrite(template.Outputs || {});
}

function scopeServicePermissions(template) {
  for (const [, permission] of resourcesOfType(template, 'AWS::Lambda::Permission')) {
    const props = permission.Properties;
    const service = typeof props.Principal === 'string' && props.Principal.endsWith('.amazonaws.com');
    if (service && !props.SourceArn && !props.SourceAccount) {
      props.SourceAccount = { Ref: 'AWS::AccountId' };
    }
  }
}

function referencedLogicalIds(node, found = new Set()) {
  if (Array.isArray(node)) {
    for (const item of node) referencedLogicalIds(item, found);
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'Ref' && typeof value === 'string') found.add(value);
      else if (key === 'Fn::GetAtt') {
        found.add(Array.isArray(value) ? value[0] : String(value).split('.')[0]);
      } else referencedLogicalIds(value, found);
    }
  }
  return found;
}

function dropRedundantDependsOn(template) {
  for (const resource of Object.values(template.Resources)) {
    if (resource.DependsOn == null) continue;
    const referenced = referencedLogicalIds(resource.Properties || {});
    const kept = [].concat(resource.DependsOn).filter((id) => !referenced.has(id));
    if (kept.length === 0) delete resource.DependsOn;
    else resource.DependsOn = kept.length === 1 ? kept[0] : kept;
  }
}

module.exports = StackHardeningPlugin;
