"""The deploy lifecycle, rehearsed against moto's server on 127.0.0.1, and the credential guard.

`scripts/sls` runs the real osls CLI (`deploy --package`, `info`, `remove`) with dummy
credentials and AWS_ENDPOINT_URL set for these subprocesses only, against `moto_server`:
deploy -> info -> deploy again (an update) -> remove -> redeploy adopting the retained table.
The packages are the session's shared builds (tests/packaging.py): nothing is packaged here.

What this does NOT prove (README, Runbook, "What the rehearsal proves"): moto runs no Lambda
code (no Docker), ignores AWS::ApiGatewayV2::*, AWS::CloudWatch::Alarm, AWS::Lambda::Url,
AWS::S3::BucketPolicy and LoggingConfig (it accepts the template and skips them), does not
recompute stack outputs after a change set (so `info` lists no endpoints here), checks no IAM
policy and enforces no throttle, concurrency or deletion protection. Those need a real account.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.net import free_port, wait_for_port
from tests.packaging import KEPT_TABLE, ROOT, SERVICE, STAGE, VARIANTS, Build, packaged, run_sls

pytestmark = pytest.mark.slow

STACK = f"{SERVICE}-{STAGE}"
FUNCTION = f"{SERVICE}-{STAGE}-api"
REGION = "us-east-1"
DUMMY = "test"
SAM = {"pk": {"S": "USER#sam"}, "sk": {"S": "PROFILE"}}


def clean_environment(home: Path) -> dict[str, str]:
    """The caller's environment without any AWS setting, and a HOME without ~/.aws."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(home)
    return env


@contextlib.contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    port = free_port()
    log = (log_dir / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


def moto_environment(endpoint: str, home: Path) -> dict[str, str]:
    env = clean_environment(home)
    env.update(
        AWS_ACCESS_KEY_ID=DUMMY,
        AWS_SECRET_ACCESS_KEY=DUMMY,
        AWS_ENDPOINT_URL=endpoint,
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        # osls polls CloudFormation every 5 s; moto answers at once.
        SLS_AWS_MONITORING_FREQUENCY="200",
    )
    return env


@pytest.fixture(scope="module")
def rehearsal_env(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return moto_environment(moto_endpoint, tmp_path_factory.mktemp("home"))


def sls(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_sls(*args, env=env, timeout=timeout)


def deploy(env: dict[str, str], build: Build) -> subprocess.CompletedProcess[str]:
    # The build's params too: osls reads the service's settings (pruneFunctionVersions
    # among them) from serverless.yml again at deploy time, as `make deploy PARAMS=...` does.
    result = sls(
        env,
        *("deploy", "--stage", STAGE, "--region", REGION, "--package", str(build.directory)),
        *(f"--param={param}" for param in build.params),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def client(name: str, endpoint: str) -> Any:
    return boto3.session.Session().client(
        name,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=DUMMY,
        aws_secret_access_key=DUMMY,
    )


def stack_resources(cloudformation: Any) -> dict[str, str]:
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s["ResourceType"] for s in summaries if s["LogicalResourceId"]}


def test_deploy_info_update_remove_and_redeploy_adopting_the_table(
    rehearsal_env: dict[str, str], moto_endpoint: str
) -> None:
    cloudformation = client("cloudformation", moto_endpoint)
    lambda_ = client("lambda", moto_endpoint)
    dynamodb = client("dynamodb", moto_endpoint)

    # 1. First deploy: the stack, the function pointed at its new table, reserved concurrency.
    first = packaged(*VARIANTS["default"])
    # The credentials check (scripts/check_aws_credentials.js) asked STS, here moto's, first.
    assert "AWS account 123456789012, as arn:aws:" in deploy(rehearsal_env, first).stderr
    [stack] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"].endswith("_COMPLETE") and "ROLLBACK" not in stack["StackStatus"]
    assert cloudformation.get_template(StackName=STACK)["TemplateBody"] == first.template()
    function = lambda_.get_function(FunctionName=FUNCTION)
    assert function["Configuration"]["Environment"]["Variables"]["USERS_TABLE"] == KEPT_TABLE
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 10
    table = dynamodb.describe_table(TableName=KEPT_TABLE)["Table"]
    assert table["DeletionProtectionEnabled"] is True
    created = table["CreationDateTime"]
    assert stack_resources(cloudformation)["UsersTable"] == "AWS::DynamoDB::Table"

    # 2. info: finds the stack. (moto keeps no outputs after a change set: no URLs listed.)
    info = sls(rehearsal_env, "info", "--stage", STAGE, "--region", REGION)
    assert info.returncode == 0, info.stdout + info.stderr
    assert f"stack: {STACK}" in info.stdout
    outputs = cloudformation.get_template(StackName=STACK)["TemplateBody"]["Outputs"]
    assert "HttpApiUrl" in outputs  # what `info` prints as the endpoint on AWS

    # A user signs up (written as the app writes it: app/store/dynamodb.py's key schema).
    dynamodb.put_item(TableName=KEPT_TABLE, Item={**SAM, "username": {"S": "sam"}})

    # 3. Update: other params, same code; the change set applies. (moto re-creates added
    # resources but does not re-apply changed function properties, e.g. the concurrency.)
    update = packaged(*VARIANTS["ops"])
    deploy(rehearsal_env, update)
    assert cloudformation.get_template(StackName=STACK)["TemplateBody"] == update.template()
    assert stack_resources(cloudformation)["AlarmTopic"] == "AWS::SNS::Topic"
    topics = client("sns", moto_endpoint).list_topics()["Topics"]
    assert [t for t in topics if f"{STACK}-AlarmTopic" in t["TopicArn"]]

    # 3b. The REST API switched on: its stage logs into the stack's own log group, which
    # osls's post-deploy stage fix-up must leave alone (it deletes a group of that name
    # whenever API Gateway tracing is set and provider.logs.restApi is not).
    rest = packaged(*VARIANTS["rest"])
    deploy(rehearsal_env, rest)
    assert stack_resources(cloudformation)["RestApiAccessLogGroup"] == "AWS::Logs::LogGroup"
    groups = client("logs", moto_endpoint).describe_log_groups()["logGroups"]
    assert f"/aws/api-gateway/{SERVICE}-{STAGE}" in {g["logGroupName"] for g in groups}

    # 4. Remove: the stack and function go, the table and its users stay (DeletionPolicy Retain).
    removed = sls(rehearsal_env, "remove", "--stage", STAGE, "--region", REGION)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    with pytest.raises(ClientError):
        stacks = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
        if stacks and stacks[0]["StackStatus"] == "DELETE_COMPLETE":
            raise ClientError({"Error": {"Code": "gone"}}, "DescribeStacks")
    with pytest.raises(ClientError):
        lambda_.get_function(FunctionName=FUNCTION)
    assert dynamodb.get_item(TableName=KEPT_TABLE, Key=SAM).get("Item") is not None

    # 5. Redeploy adopting the retained table: no table in the stack, same table, same users.
    adopt = packaged(*VARIANTS["adopt"])
    assert f"usersTable={KEPT_TABLE}" in adopt.params
    deploy(rehearsal_env, adopt)
    assert "UsersTable" not in stack_resources(cloudformation)
    function = lambda_.get_function(FunctionName=FUNCTION)
    assert function["Configuration"]["Environment"]["Variables"]["USERS_TABLE"] == KEPT_TABLE
    table = dynamodb.describe_table(TableName=KEPT_TABLE)["Table"]
    assert table["CreationDateTime"] == created
    assert dynamodb.get_item(TableName=KEPT_TABLE, Key=SAM)["Item"]["username"] == {"S": "sam"}


# --- the credential guard in scripts/sls ----------------------------------------------------


def test_deploy_function_is_refused_with_snapstart(rehearsal_env: dict[str, str]) -> None:
    # It would update $LATEST while every event keeps invoking the old "snapstart" version.
    where = ("--stage", STAGE, "--region", REGION)
    result = sls(rehearsal_env, "deploy", "function", "-f", "api", *where, "--param=snapStart=true")
    assert result.returncode != 0
    assert "refusing `deploy function` with snapStart=true" in result.stdout + result.stderr


AWS_COMMANDS = [("deploy",), ("info",), ("remove",), ("logs", "-f", "api")]


@pytest.mark.parametrize("command", AWS_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    "endpoint",
    [None, "https://cloudformation.us-east-1.amazonaws.com", "http://127.0.0.1.example.com:4566"],
)
def test_aws_commands_refuse_the_dummy_key_unless_every_endpoint_is_local(
    command: tuple[str, ...], endpoint: str | None, tmp_path: Path
) -> None:
    env = clean_environment(tmp_path)
    env.update(AWS_ACCESS_KEY_ID=DUMMY, AWS_SECRET_ACCESS_KEY=DUMMY)
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    result = sls(env, *command, timeout=60)
    assert result.returncode == 2
    assert f"refusing '{command[0]}' with the dummy AWS key" in result.stderr


def test_a_local_default_endpoint_with_a_remote_service_endpoint_is_refused(tmp_path: Path) -> None:
    env = clean_environment(tmp_path)
    env.update(
        AWS_ACCESS_KEY_ID=DUMMY,
        AWS_SECRET_ACCESS_KEY=DUMMY,
        AWS_ENDPOINT_URL="http://127.0.0.1:4566",
        AWS_ENDPOINT_URL_S3="https://s3.amazonaws.com",
    )
    result = sls(env, "deploy", timeout=60)
    assert result.returncode == 2
    assert "https://s3.amazonaws.com is not on 127.0.0.1 or localhost" in result.stderr


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Stands in for AWS: records who signed each request, answers every call with an error."""

    authorizations: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).authorizations.append(self.headers.get("Authorization", ""))
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            b"<Message>recorded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
        )
        self.send_response(403)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def recording_endpoint() -> Iterator[tuple[str, list[str]]]:
    RecordingHandler.authorizations = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", RecordingHandler.authorizations
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_aws_commands_sign_with_the_default_profile_not_dummy_keys(tmp_path: Path) -> None:
    """No AWS variables, a default profile in ~/.aws: `info` must sign with that profile's key
    (scripts/sls used to swap in the dummy key here)."""
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        "[default]\naws_access_key_id = AKIAPROFILEDEFAULT01\n"
        "aws_secret_access_key = profile-secret\n"
    )
    (aws / "config").write_text(f"[default]\nregion = {REGION}\n")
    env = clean_environment(tmp_path)
    env["AWS_MAX_ATTEMPTS"] = "1"  # the stand-in's refusals are not worth the SDK's retries
    with recording_endpoint() as (endpoint, authorizations):
        env["AWS_ENDPOINT_URL"] = endpoint
        result = sls(env, "info", "--stage", STAGE, "--region", REGION, timeout=120)
    assert result.returncode != 0  # the stand-in refuses everything
    assert authorizations, result.stdout + result.stderr
    for authorization in authorizations:
        assert "Credential=AKIAPROFILEDEFAULT01/" in authorization
        assert f"Credential={DUMMY}/" not in authorization


# --- function versions: none without SnapStart, the newest few with it ------------------------


def published_versions(lambda_: Any) -> list[int]:
    versions = lambda_.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
    return sorted(int(v["Version"]) for v in versions if v["Version"] != "$LATEST")


def test_without_snapstart_no_version_is_published(tmp_path: Path) -> None:
    """Nothing invokes a published version without SnapStart: two deploys publish none."""
    with moto_server(tmp_path) as endpoint:
        env = moto_environment(endpoint, tmp_path)
        for variant in ("default", "ops"):
            build = packaged(*VARIANTS[variant])
            assert build.resources("AWS::Lambda::Version") == {}
            deploy(env, build)
        assert published_versions(client("lambda", endpoint)) == []


def test_with_snapstart_only_the_newest_versions_stay_and_the_alias_is_on_the_newest(
    tmp_path: Path,
) -> None:
    """Each deploy with a changed function publishes a version (a cached snapshot each on AWS);
    after every deploy only the newest snapStartVersions remain, the alias on the newest."""
    kept = 2
    # Three different functions (osls names a version after its code and configuration).
    changes = [(), ("tracing=true",), ("tracing=true", "architecture=arm64")]
    builds = [packaged("snapStart=true", f"snapStartVersions={kept}", *c) for c in changes]
    assert len({next(iter(b.resources("AWS::Lambda::Version"))) for b in builds}) == 3
    with moto_server(tmp_path) as endpoint:
        env = moto_environment(endpoint, tmp_path)
        lambda_ = client("lambda", endpoint)
        newest = []
        for number, build in enumerate(builds, start=1):
            [version] = build.resources("AWS::Lambda::Version").values()
            assert version.get("DeletionPolicy") == "Retain"  # CloudFormation never deletes one
            deploy(env, build)
            versions = published_versions(lambda_)
            assert versions == list(range(max(1, number - kept + 1), number + 1))
            alias = lambda_.get_alias(FunctionName=FUNCTION, Name="snapstart")
            assert alias["FunctionVersion"] == str(versions[-1])
            newest.append(versions[-1])
        assert newest == [1, 2, 3]
