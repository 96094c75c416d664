"""The packaged CloudFormation template, under default params and each opt-in.

Each param combination is packaged once per session (tests/packaging.py). What a reviewer
asks of the stack is asserted on the template CloudFormation would receive: the public front
doors, the function URL's auth type, throttles on every public stage, reserved concurrency,
access logs, JSON logging, alarms, the table's lifecycle and IAM. cfn-lint (no ignored checks)
and checkov (skips with reasons in .checkov.yaml) run on every combination.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app import metrics
from lambda_edge.api_gateway import CATCH_ALL_ROUTES, OWN_ROUTES
from scripts.lambda_python import RUNTIME
from tests import dynamo_server
from tests.packaging import (
    ALB_LISTENER_ARN,
    KEPT_TABLE,
    ROOT,
    SERVICE,
    STAGE,
    TOPIC_ARN,
    VARIANTS,
    Build,
    packaged,
    run_package,
)

pytestmark = pytest.mark.slow

CFN_LINT = ROOT / ".venv" / "bin" / "cfn-lint"
CHECKOV = ROOT / ".cache" / "checkov" / "bin" / "checkov"
# The defaults serverless.yml documents (custom.params).
DEFAULT_LIMITS = {"rate": 50, "burst": 100, "signUpRate": 5, "signUpBurst": 10, "reserved": 10}
SIGN_UP_ROUTE = "POST /userSignUp"


def build(variant: str) -> Build:
    return packaged(*VARIANTS[variant])


def resources(variant: str, type_: str) -> dict[str, dict[str, Any]]:
    return build(variant).resources(type_)


def only(variant: str, type_: str) -> dict[str, Any]:
    [resource] = resources(variant, type_).values()
    return resource


def public_front_doors(template: dict[str, Any]) -> set[str]:
    """Ways in for an anonymous caller on the internet (or, for Lattice, in a service network)."""
    types = {resource["Type"]: resource for resource in template["Resources"].values()}
    doors = set()
    if "AWS::ApiGatewayV2::Api" in types:
        doors.add("http-api")
    if "AWS::ApiGateway::RestApi" in types:
        doors.add("rest-api")
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Url" and resource["Properties"]["AuthType"] == "NONE":
            doors.add("function-url")
    if "AWS::ElasticLoadBalancingV2::ListenerRule" in types:
        doors.add("alb")
    if "AWS::VpcLattice::TargetGroup" in types:
        doors.add("lattice")
    return doors


def invoke_principals(variant: str) -> set[str]:
    permissions = resources(variant, "AWS::Lambda::Permission").values()
    return {p["Properties"]["Principal"] for p in permissions}


# --- front doors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "doors"),
    [
        ("default", {"http-api"}),
        ("rest", {"http-api", "rest-api"}),
        ("waf", {"http-api", "rest-api"}),
        ("url-public", {"http-api", "function-url"}),
        ("alb", {"http-api", "alb"}),
        ("lattice", {"http-api", "lattice"}),
        ("adopt", {"http-api"}),
        ("ops", {"http-api"}),
    ],
)
def test_public_front_doors(variant: str, doors: set[str]) -> None:
    assert public_front_doors(build(variant).template()) == doors


def test_default_stack_can_be_invoked_only_by_the_http_api() -> None:
    assert resources("default", "AWS::Lambda::Url") == {}
    [permission] = resources("default", "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    source_arn = json.dumps(permission["Properties"]["SourceArn"])
    assert '{"Ref": "HttpApi"}' in source_arn


def test_function_url_is_aws_iam_unless_made_public() -> None:
    assert only("adopt", "AWS::Lambda::Url")["Properties"]["AuthType"] == "AWS_IAM"
    # An IAM URL needs no resource policy: callers' own IAM grants lambda:InvokeFunctionUrl.
    assert "*" not in invoke_principals("adopt")
    assert only("url-public", "AWS::Lambda::Url")["Properties"]["AuthType"] == "NONE"
    url_permissions = [
        p["Properties"]
        for p in resources("url-public", "AWS::Lambda::Permission").values()
        if p["Properties"]["Action"] == "lambda:InvokeFunctionUrl"
    ]
    assert [(p["Principal"], p["FunctionUrlAuthType"]) for p in url_permissions] == [("*", "NONE")]


def test_http_api_routes_include_sign_up_on_its_own() -> None:
    routes = resources("default", "AWS::ApiGatewayV2::Route").values()
    assert sorted(r["Properties"]["RouteKey"] for r in routes) == ["$default", SIGN_UP_ROUTE]
    # The edge serves the own routes only through them (lambda_edge/api_gateway.py).
    assert {f"{method} {path}" for method, path in OWN_ROUTES} == {SIGN_UP_ROUTE}
    assert "$default" in CATCH_ALL_ROUTES


def test_rest_api_routes_only_when_asked() -> None:
    assert resources("default", "AWS::ApiGateway::RestApi") == {}
    methods = resources("rest", "AWS::ApiGateway::Method").values()
    assert sorted(m["Properties"]["HttpMethod"] for m in methods) == ["ANY", "ANY", "POST"]
    paths = {
        r["Properties"]["PathPart"] for r in resources("rest", "AWS::ApiGateway::Resource").values()
    }
    assert paths == {"{proxy+}", "userSignUp"}
    assert {("POST", "/userSignUp")} == OWN_ROUTES
    assert {"/{proxy+}", "/"} <= CATCH_ALL_ROUTES
    # GET / (the page) has a method of its own on the root: {proxy+} does not match "/".
    root = {"Fn::GetAtt": ["ApiGatewayRestApi", "RootResourceId"]}
    assert [
        m["Properties"]["HttpMethod"] for m in methods if m["Properties"]["ResourceId"] == root
    ] == ["ANY"]


def test_alb_event_only_with_a_listener_arn() -> None:
    for type_ in ("TargetGroup", "ListenerRule"):
        assert resources("default", f"AWS::ElasticLoadBalancingV2::{type_}") == {}
    group = only("alb", "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert group["Properties"]["TargetType"] == "lambda"
    attributes = {a["Key"]: a["Value"] for a in group["Properties"]["TargetGroupAttributes"]}
    assert attributes["lambda.multi_value_headers.enabled"] is True
    rule = only("alb", "AWS::ElasticLoadBalancingV2::ListenerRule")
    assert rule["Properties"]["ListenerArn"] == ALB_LISTENER_ARN
    assert rule["Properties"]["Priority"] == 100
    assert rule["Properties"]["Conditions"] == [{"Field": "path-pattern", "Values": ["/*"]}]
    assert "elasticloadbalancing.amazonaws.com" in invoke_principals("alb")


def test_lattice_target_group_only_when_asked() -> None:
    assert resources("default", "AWS::VpcLattice::TargetGroup") == {}
    group = only("lattice", "AWS::VpcLattice::TargetGroup")["Properties"]
    assert group["Type"] == "LAMBDA"
    assert group["Config"] == {"LambdaEventStructureVersion": "V1"}
    # The SnapStart alias (the variant turns SnapStart on), not the bare function's $LATEST.
    assert group["Targets"] == [{"Id": {"Ref": "ApiSnapStartLambdaAlias"}}]
    [permission] = [
        p["Properties"]
        for p in resources("lattice", "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "vpc-lattice.amazonaws.com"
    ]
    assert permission["SourceArn"] == {"Fn::GetAtt": ["LatticeTargetGroup", "Arn"]}
    assert permission["Action"] == "lambda:InvokeFunction"


def referenced(value: Any) -> set[str]:
    """Logical ids a template value Refs or GetAtts."""
    if isinstance(value, dict):
        found = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        if isinstance(value.get("Fn::GetAtt"), list):
            found.add(value["Fn::GetAtt"][0])
        return found.union(*(referenced(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value))
    return set()


def test_snapstart_only_when_asked_and_every_door_invokes_its_alias() -> None:
    [function] = resources("default", "AWS::Lambda::Function").values()
    assert "SnapStart" not in function["Properties"]
    assert resources("default", "AWS::Lambda::Alias") == {}
    [function] = resources("lattice", "AWS::Lambda::Function").values()
    assert function["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    [alias_id] = resources("lattice", "AWS::Lambda::Alias")
    permissions = resources("lattice", "AWS::Lambda::Permission").values()
    names = [p["Properties"]["FunctionName"] for p in permissions]
    assert len(names) >= 2  # the HTTP API's and the Lattice target group's (whose target
    # is checked in test_lattice_target_group_only_when_asked)
    for name in names:
        # osls's own doors join the function's ARN with ":snapstart"; ours Refs the alias.
        assert alias_id in referenced(name) or "snapstart" in json.dumps(name), name


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_service_invoke_permissions_are_scoped(variant: str) -> None:
    for permission in resources(variant, "AWS::Lambda::Permission").values():
        props = permission["Properties"]
        if props["Principal"] != "*":
            assert "SourceArn" in props or "SourceAccount" in props, props


# --- throttles and concurrency --------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "rate", "burst", "sign_up_rate", "sign_up_burst"),
    [
        ("default", *(DEFAULT_LIMITS[k] for k in ("rate", "burst", "signUpRate", "signUpBurst"))),
        ("ops", 60, 120, 3, 6),
    ],
)
def test_http_api_stage_is_throttled(
    variant: str, rate: int, burst: int, sign_up_rate: int, sign_up_burst: int
) -> None:
    stage = only(variant, "AWS::ApiGatewayV2::Stage")
    props = stage["Properties"]
    assert props["DefaultRouteSettings"] == {
        "DetailedMetricsEnabled": False,
        "ThrottlingRateLimit": rate,
        "ThrottlingBurstLimit": burst,
    }
    assert props["RouteSettings"] == {
        SIGN_UP_ROUTE: {"ThrottlingRateLimit": sign_up_rate, "ThrottlingBurstLimit": sign_up_burst}
    }
    assert sign_up_rate < rate
    # The route the settings name is created before the stage.
    route_ids = [
        logical_id
        for logical_id, route in resources(variant, "AWS::ApiGatewayV2::Route").items()
        if route["Properties"]["RouteKey"] == SIGN_UP_ROUTE
    ]
    depends_on = stage.get("DependsOn", [])
    depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
    assert route_ids and set(route_ids) <= set(depends_on)


def test_per_client_limit_is_a_waf_rate_rule_on_the_rest_stage_only_when_asked() -> None:
    for variant in sorted(VARIANTS):
        if variant != "waf":
            assert resources(variant, "AWS::WAFv2::WebACL") == {}, variant
    acl = only("waf", "AWS::WAFv2::WebACL")["Properties"]
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    [rule] = acl["Rules"]
    # Keyed on the connection's address: no header a client can set.
    assert rule["Statement"] == {
        "RateBasedStatement": {"Limit": 500, "AggregateKeyType": "IP", "EvaluationWindowSec": 300}
    }
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    body = json.loads(acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"])
    assert (body["status"], body["title"]) == (429, "Too Many Requests")
    association = only("waf", "AWS::WAFv2::WebACLAssociation")
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": ["PerClientWebAcl", "Arn"]}
    stage_arn = association["Properties"]["ResourceArn"]["Fn::Sub"]
    assert stage_arn.endswith(f"/restapis/${{ApiGatewayRestApi}}/stages/{STAGE}")
    [deployment] = resources("waf", "AWS::ApiGateway::Deployment")
    assert association["DependsOn"] == [deployment]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (("perClientRateLimit=500",), "param perClientRateLimit needs restApi=true"),
        (("restApi=true", "perClientRateLimit=5"), "must be 0 (off) or at least 10"),
    ],
)
def test_per_client_limit_params_are_refused_where_waf_cannot_apply(
    params: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    result = run_package(tmp_path / "build", *params)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_rest_stage_is_throttled_with_json_access_logs() -> None:
    deployment = only("rest", "AWS::ApiGateway::Deployment")["Properties"]
    assert deployment["StageName"] == STAGE
    stage = deployment["StageDescription"]
    assert (stage["ThrottlingRateLimit"], stage["ThrottlingBurstLimit"]) == (
        DEFAULT_LIMITS["rate"],
        DEFAULT_LIMITS["burst"],
    )
    settings = {(m["HttpMethod"], m["ResourcePath"]): m for m in stage["MethodSettings"]}
    assert settings.keys() == {("*", "/*"), ("POST", "/~1userSignUp")}
    assert settings["*", "/*"]["ThrottlingRateLimit"] == DEFAULT_LIMITS["rate"]
    assert settings["POST", "/~1userSignUp"]["ThrottlingRateLimit"] == DEFAULT_LIMITS["signUpRate"]
    assert (
        settings["POST", "/~1userSignUp"]["ThrottlingBurstLimit"] == DEFAULT_LIMITS["signUpBurst"]
    )
    access = stage["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["RestApiAccessLogGroup", "Arn"]}
    assert_access_log_format(access["Format"], route_field="resourcePath")
    log_group = resources("rest", "AWS::Logs::LogGroup")["RestApiAccessLogGroup"]
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert stage["TracingEnabled"] is False


@pytest.mark.parametrize(
    ("variant", "reserved"), [("default", DEFAULT_LIMITS["reserved"]), ("ops", 25)]
)
def test_function_has_reserved_concurrency(variant: str, reserved: int) -> None:
    function = only(variant, "AWS::Lambda::Function")["Properties"]
    assert function["ReservedConcurrentExecutions"] == reserved


def test_a_bad_param_fails_the_package_naming_it(tmp_path: Path) -> None:
    result = run_package(tmp_path / "bad", "reservedConcurrency=lots")
    assert result.returncode != 0
    assert "param reservedConcurrency must be an integer" in result.stdout + result.stderr


# --- logs and tracing -----------------------------------------------------------------------

ACCESS_LOG_REQUIRED = {"requestId", "ip", "status", "responseLatency"}
# Nothing that can carry a password or personal data: no query string, body, headers, auth.
ACCESS_LOG_FORBIDDEN = ("querystring", "body", "header", "authorizer", "authorization", "cookie")


def assert_access_log_format(format_: str, route_field: str) -> None:
    fields = json.loads(format_)  # one JSON object per request
    assert ACCESS_LOG_REQUIRED | {route_field} <= fields.keys()
    assert fields["requestId"] == "$context.requestId"
    assert fields["ip"] == "$context.identity.sourceIp"
    assert fields["status"] == "$context.status"
    for name, value in fields.items():
        text = f"{name} {value}".lower().replace("_", "")
        assert not any(word in text for word in ACCESS_LOG_FORBIDDEN), name


def test_http_api_access_logs_are_json() -> None:
    stage = only("default", "AWS::ApiGatewayV2::Stage")["Properties"]
    access = stage["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["HttpApiLogGroup", "Arn"]}
    assert_access_log_format(access["Format"], route_field="routeKey")


@pytest.mark.parametrize(("variant", "level"), [("default", "INFO"), ("ops", "WARN")])
def test_lambda_logs_are_json_with_levels(variant: str, level: str) -> None:
    function = only(variant, "AWS::Lambda::Function")["Properties"]
    assert function["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": level,
        "SystemLogLevel": "INFO",
    }
    log_group = resources(variant, "AWS::Logs::LogGroup")["ApiLogGroup"]
    assert log_group["Properties"]["RetentionInDays"] == 30


def test_tracing_is_off_by_default_and_a_param() -> None:
    default = only("default", "AWS::Lambda::Function")["Properties"]
    assert default.get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}
    assert only("ops", "AWS::Lambda::Function")["Properties"]["TracingConfig"] == {"Mode": "Active"}


def test_function_configuration() -> None:
    props = only("default", "AWS::Lambda::Function")["Properties"]
    assert props["Runtime"] == RUNTIME
    assert props["Architectures"] == ["x86_64"]
    assert props["Handler"] == "handler.handler"
    assert props["MemorySize"] == 512
    assert props["Timeout"] == 10
    assert props["Environment"]["Variables"]["STRIP_STAGE_PATH"] == "true"
    assert props["Environment"]["Variables"]["USERS_TABLE"] == {"Ref": "UsersTable"}


def test_deployment_bucket_is_private_and_versioned() -> None:
    bucket = build("default").template()["Resources"]["ServerlessDeploymentBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}


# --- alarms ---------------------------------------------------------------------------------

BASE_ALARMS = {
    "FunctionErrorsAlarm": ("AWS/Lambda", "Errors"),
    "FunctionThrottlesAlarm": ("AWS/Lambda", "Throttles"),
    "FunctionDurationAlarm": ("AWS/Lambda", "Duration"),
    "HttpApi5xxAlarm": ("AWS/ApiGateway", "5xx"),
    "UsersTableThrottlesAlarm": ("AWS/DynamoDB", "ThrottledRequests"),
    "UsersTableSystemErrorsAlarm": ("AWS/DynamoDB", "SystemErrors"),
    # Signs of an attack, from the function's own metrics (app/metrics.py).
    "UnauthorizedSpikeAlarm": (metrics.NAMESPACE, metrics.UNAUTHORIZED),
    "TooManyRequestsSpikeAlarm": (
        "AWS/Lambda+UserApi",
        "AccountWaits+Throttles+TooManyRequests",
    ),
    "CrossSiteSpikeAlarm": (metrics.NAMESPACE, metrics.CROSS_SITE_REFUSALS),
}


def metric_of(alarm: dict[str, Any]) -> tuple[str, str]:
    props = alarm["Properties"]
    stats = [m["MetricStat"]["Metric"] for m in props.get("Metrics", ()) if "MetricStat" in m]
    if stats:  # metric math over several metrics: all of them, sorted
        namespaces = "+".join(sorted({m["Namespace"] for m in stats}))
        return namespaces, "+".join(sorted(m["MetricName"] for m in stats))
    if "Metrics" in props:
        [query] = props["Metrics"]
        expression = query["Expression"]
        metric = expression.split("SUM(", 1)[1].split(")", 1)[0]
        namespace = expression.split('SCHEMA("', 1)[1].split('"', 1)[0]
        return namespace, metric
    return props["Namespace"], props["MetricName"]


@pytest.mark.parametrize(
    ("variant", "extra"),
    [("default", {}), ("rest", {"RestApi5xxAlarm": ("AWS/ApiGateway", "5XXError")})],
)
def test_alarms(variant: str, extra: dict[str, tuple[str, str]]) -> None:
    alarms = resources(variant, "AWS::CloudWatch::Alarm")
    assert {name: metric_of(alarm) for name, alarm in alarms.items()} == BASE_ALARMS | extra
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["TreatMissingData"] == "notBreaching"
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert "AlarmActions" not in props  # no topic unless a param names one
    function = only(variant, "AWS::Lambda::Function")["Properties"]
    duration = alarms["FunctionDurationAlarm"]["Properties"]
    assert duration["ExtendedStatistic"] == "p99"
    assert 0.5 * function["Timeout"] * 1000 <= duration["Threshold"] < function["Timeout"] * 1000
    for name in ("FunctionErrorsAlarm", "FunctionThrottlesAlarm", "FunctionDurationAlarm"):
        dimensions = alarms[name]["Properties"]["Dimensions"]
        assert dimensions == [{"Name": "FunctionName", "Value": {"Ref": "ApiLambdaFunction"}}]
    table = f"{SERVICE}-{STAGE}-users"
    for name in ("UsersTableThrottlesAlarm", "UsersTableSystemErrorsAlarm"):
        [query] = alarms[name]["Properties"]["Metrics"]
        assert query["Expression"].endswith(f"WHERE TableName = '{table}'")
    for name in ("UnauthorizedSpikeAlarm", "CrossSiteSpikeAlarm"):
        props = alarms[name]["Properties"]
        assert props["Dimensions"] == [{"Name": metrics.STAGE_DIMENSION, "Value": STAGE}]
        assert props["Statistic"] == "Sum" and props["Threshold"] > 1
    spike = alarms["TooManyRequestsSpikeAlarm"]["Properties"]
    [total] = [m for m in spike["Metrics"] if m.get("ReturnData")]
    summed = {m["Id"]: m["MetricStat"] for m in spike["Metrics"] if "MetricStat" in m}
    assert set(summed) <= set(total["Expression"].replace("(", " ").replace(",", " ").split())
    for stat in summed.values():
        [dimension] = stat["Metric"]["Dimensions"]
        assert dimension in (
            {"Name": metrics.STAGE_DIMENSION, "Value": STAGE},
            {"Name": "FunctionName", "Value": {"Ref": "ApiLambdaFunction"}},
        )
        assert stat["Stat"] == "Sum"


def test_alarms_go_to_an_email_topic_or_a_given_topic() -> None:
    subscription = only("ops", "AWS::SNS::Subscription")["Properties"]
    assert subscription == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": "ops@example.com",
    }
    for variant, target in (("ops", {"Ref": "AlarmTopic"}), ("adopt", TOPIC_ARN)):
        alarms = resources(variant, "AWS::CloudWatch::Alarm").values()
        assert len(alarms) == len(BASE_ALARMS)
        for alarm in alarms:
            assert alarm["Properties"]["AlarmActions"] == [target]
    assert resources("adopt", "AWS::SNS::Topic") == {}


# --- the dashboard --------------------------------------------------------------------------


def dashboard_widgets(variant: str) -> list[dict[str, Any]]:
    dashboard = only(variant, "AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == f"{SERVICE}-{STAGE}"
    body = dashboard["DashboardBody"]["Fn::Sub"]
    # The substitutions CloudFormation makes: the region and resources of this stack only.
    template = build(variant).template()
    for name in set(re.findall(r"\$\{([^}]+)\}", body)):
        assert name == "AWS::Region" or name in template["Resources"], name
    widgets: list[dict[str, Any]] = json.loads(body)["widgets"]
    return widgets


def graphed(widgets: list[dict[str, Any]]) -> dict[str, set[tuple[str, str]]]:
    """Each graph's title and its (namespace, metric, statistic) lines."""
    lines = {}
    for widget in widgets:
        props = widget["properties"]
        lines[props["title"]] = {
            (m[0], m[1], m[-1]["stat"] if isinstance(m[-1], dict) else props["stat"])
            for m in props["metrics"]
        }
    return lines


@pytest.mark.parametrize("variant", ["default", "rest"])
def test_dashboard_shows_every_metric_latency_errors_and_throttles(variant: str) -> None:
    widgets = dashboard_widgets(variant)
    lines = graphed(widgets)
    own = {metric for graph in lines.values() for ns, metric, _ in graph if ns == metrics.NAMESPACE}
    assert own == set(metrics.ALL_METRICS)
    for widget in widgets:
        for line in widget["properties"]["metrics"]:
            if line[0] == metrics.NAMESPACE:  # by stage, as the function emits them
                assert line[2:4] == [metrics.STAGE_DIMENSION, STAGE]
    all_lines = set().union(*lines.values())
    assert {("AWS/Lambda", "Duration", p) for p in ("p50", "p90", "p99")} <= all_lines
    assert ("AWS/Lambda", "Errors", "Sum") in all_lines
    assert ("AWS/Lambda", "Throttles", "Sum") in all_lines
    http_api = {line for line in all_lines if line[0] == "AWS/ApiGateway"}
    assert bool(http_api) == ("HttpApi" in build(variant).template()["Resources"])


# --- the users table and IAM ----------------------------------------------------------------


def dynamodb_statements(variant: str) -> list[dict[str, Any]]:
    role = only(variant, "AWS::IAM::Role")
    statements = [
        s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
    ]
    return [s for s in statements if any(str(a).startswith("dynamodb:") for a in s["Action"])]


def test_iam_is_exactly_the_actions_the_code_uses_on_the_table_arn() -> None:
    # tests/test_dynamodb.py proves serverless.yml's statement lists exactly the calls the code
    # makes; here the packaged role carries that statement unchanged, on the table only.
    [declared] = [
        s
        for s in dynamo_server.serverless_config()["provider"]["iam"]["role"]["statements"]
        if any(str(a).startswith("dynamodb:") for a in s["Action"])
    ]
    [default] = dynamodb_statements("default")
    assert default == {
        "Effect": "Allow",
        "Action": declared["Action"],
        "Resource": {"Fn::GetAtt": ["UsersTable", "Arn"]},
    }
    [adopted] = dynamodb_statements("adopt")
    assert adopted["Action"] == declared["Action"]
    assert adopted["Resource"] == {
        "Fn::Sub": (
            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/" + KEPT_TABLE
        )
    }
    assert not any("*" in str(a) for a in declared["Action"])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_log_permissions_are_exactly_writing_to_the_functions_own_log_group(variant: str) -> None:
    role = only(variant, "AWS::IAM::Role")
    statements = [
        s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
    ]
    logs = [s for s in statements if any(str(a).startswith("logs:") for a in s["Action"])]
    # The group's Arn (".../log-group:/aws/lambda/user-api-dev-api:*") covers its streams only:
    # no other stage's group (user-api-dev2), no CreateLogGroup, no TagResource.
    assert logs == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": ["ApiLogGroup", "Arn"]},
        }
    ]
    log_group = resources(variant, "AWS::Logs::LogGroup")["ApiLogGroup"]
    assert log_group["Properties"]["LogGroupName"] == f"/aws/lambda/{SERVICE}-{STAGE}-api"


def test_table_is_retained_protected_and_recoverable() -> None:
    table = only("default", "AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["TableName"] == f"{SERVICE}-{STAGE}-users"
    assert props["DeletionProtectionEnabled"] is True
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_adopting_a_table_creates_none_and_points_everything_at_it() -> None:
    template = build("adopt").template()
    assert resources("adopt", "AWS::DynamoDB::Table") == {}
    assert '"UsersTable"' not in json.dumps(template)  # no dangling Ref / GetAtt
    function = only("adopt", "AWS::Lambda::Function")["Properties"]
    assert function["Environment"]["Variables"]["USERS_TABLE"] == KEPT_TABLE
    for name in ("UsersTableThrottlesAlarm", "UsersTableSystemErrorsAlarm"):
        [query] = template["Resources"][name]["Properties"]["Metrics"]
        assert query["Expression"].endswith(f"WHERE TableName = '{KEPT_TABLE}'")


# --- linters --------------------------------------------------------------------------------


def test_templates_are_cfn_lint_clean_with_no_ignored_checks() -> None:
    paths = [str(build(variant).template_path) for variant in sorted(VARIANTS)]
    result = subprocess.run(
        [str(CFN_LINT), "--", *paths], capture_output=True, text=True, timeout=600
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_templates_pass_checkov() -> None:
    assert CHECKOV.exists(), "checkov missing: run `make test` (it builds .cache/checkov)"
    files = [arg for v in sorted(VARIANTS) for arg in ("-f", str(build(v).template_path))]
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(ROOT / ".checkov.yaml"), *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Failed checks: 0" in output and "Passed checks: 0" not in output
