"""The DynamoDB contract against a server that checks signatures and IAM policies.

DynamoDB Local checks neither. moto's server does once ``INITIAL_NO_AUTH_ACTION_COUNT``
requests have been made: every later request must be signed by a key moto's IAM knows,
and is allowed only by that identity's policy. The function's identity here holds
exactly the DynamoDB statements of the packaged template's role (``make package``), so a
forgotten IAM action, or a wrong signature, fails a test, with each way Lambda hands out
credentials: long-term keys, a role session with its token, the container endpoint.

moto (5.2) evaluates DynamoDB requests against the resource ``*``, not the table's ARN,
so the statements are loaded with ``Resource`` rewritten to ``*``; the ARN scoping is
checked in tests/test_dynamodb.py (test_function_gets_the_table_name_...).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask

from app import create_app
from app.store.dynamodb import shared_client
from tests import dynamo_server, processes
from tests.channels import flask_client_channel
from tests.contract import CASES, Case, run_case
from tests.net import free_port
from tests.packaging import packaged
from tests.test_dynamodb_client import CONTAINER_KEYS, CredentialsServer, credentials_endpoint

# Starts moto's server and packages the template.
pytestmark = pytest.mark.slow

REGION = "us-east-1"
# The requests moto serves before it checks any: the bootstrap admin's user, policy, key.
BOOTSTRAP_REQUESTS = 3
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


def template_dynamodb_statements() -> list[dict[str, Any]]:
    """The DynamoDB statements of the function's role in the packaged template."""
    template = packaged().template()
    roles = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    statements = [
        statement
        for role in roles
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if any(str(action).startswith("dynamodb:") for action in as_list(statement["Action"]))
    ]
    assert statements, "the packaged template grants no DynamoDB action"
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_for_moto(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{**statement, "Resource": "*"} for statement in statements],
    }


@dataclass(frozen=True)
class Moto:
    endpoint_url: str
    admin: dict[str, str]  # aws_access_key_id / aws_secret_access_key

    def client(self, service: str) -> Any:
        return boto3.session.Session(region_name=REGION, **self.admin).client(
            service, endpoint_url=self.endpoint_url
        )


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    port = free_port()
    env = {
        **os.environ,
        **dynamo_server.DUMMY_AWS_ENV,
        "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_REQUESTS),
    }
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with (
        tempfile.TemporaryDirectory(prefix="moto-") as tmp,
        processes.server(command, port=port, cwd=Path(tmp), env=env, log=Path(tmp) / "moto.log"),
    ):
        url = f"http://127.0.0.1:{port}"
        iam = boto3.session.Session(region_name=REGION, **dummy_keys()).client(
            "iam", endpoint_url=url
        )
        iam.create_user(UserName="admin")
        iam.put_user_policy(
            UserName="admin", PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY)
        )
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        yield Moto(
            url,
            {
                "aws_access_key_id": key["AccessKeyId"],
                "aws_secret_access_key": key["SecretAccessKey"],
            },
        )


def dummy_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": dynamo_server.DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": dynamo_server.DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }


@dataclass(frozen=True)
class Identity:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


def function_identity(moto: Moto, name: str, policy: dict[str, Any], kind: str) -> Identity:
    """Credentials allowed exactly ``policy``: a user's long-term key, or a session of a
    role that holds the policy (kind "role")."""
    iam = moto.client("iam")
    if kind == "keys":
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="fn", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Identity(key["AccessKeyId"], key["SecretAccessKey"])
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))
    iam.put_role_policy(RoleName=name, PolicyName="fn", PolicyDocument=json.dumps(policy))
    session = moto.client("sts").assume_role(
        RoleArn=role["Role"]["Arn"], RoleSessionName="user-api"
    )["Credentials"]
    return Identity(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])


def table_on(moto: Moto) -> str:
    return dynamo_server.create_table(moto.client("dynamodb"))


def app_signed_by(
    moto: Moto, table: str, identity: Identity, monkeypatch: pytest.MonkeyPatch, kind: str
) -> Flask:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    if kind != "container":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", identity.access_key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", identity.secret_access_key)
        if identity.session_token:
            monkeypatch.setenv("AWS_SESSION_TOKEN", identity.session_token)
    shared_client.cache_clear()  # credentials are read when the client is built
    return create_app(
        {"TESTING": True, "USERS_TABLE": table, "DYNAMODB_ENDPOINT_URL": moto.endpoint_url}
    )


def run_contract(app: Flask) -> None:
    channel = flask_client_channel(app)
    for case in CASES:
        run_case(channel, case)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["keys", "role", "container"])
def test_the_contract_passes_with_exactly_the_templates_actions(
    moto: Moto, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = policy_for_moto(template_dynamodb_statements())
    identity = function_identity(moto, f"fn-{kind}", policy, "keys" if kind == "keys" else "role")
    table = table_on(moto)
    if kind != "container":
        run_contract(app_signed_by(moto, table, identity, monkeypatch, kind))
        return
    server = CredentialsServer(
        "Bearer container-token",
        {
            **CONTAINER_KEYS,
            "AccessKeyId": identity.access_key_id,
            "SecretAccessKey": identity.secret_access_key,
            "Token": identity.session_token or "",
        },
        lifetime_s=3600,
    )
    with credentials_endpoint(server) as url:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer container-token")
        app = app_signed_by(moto, table, identity, monkeypatch, kind)
        run_contract(app)
    assert server.requests == 1


def contract_case(name: str) -> Case:
    return next(case for case in CASES if case.name == name)


@pytest.mark.parametrize("missing", ["dynamodb:GetItem", "dynamodb:UpdateItem"])
def test_removing_one_action_fails_the_contract(
    moto: Moto, missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements = [
        {**s, "Action": [a for a in as_list(s["Action"]) if a != missing]}
        for s in template_dynamodb_statements()
    ]
    identity = function_identity(
        moto, f"fn-without-{missing[9:]}", policy_for_moto(statements), "keys"
    )
    app = app_signed_by(moto, table_on(moto), identity, monkeypatch, "keys")
    with pytest.raises(AssertionError):
        run_contract(app)


def test_a_wrong_secret_is_refused(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = policy_for_moto(template_dynamodb_statements())
    identity = function_identity(moto, "fn-wrong-secret", policy, "keys")
    wrong = Identity(identity.access_key_id, identity.secret_access_key + "x")
    app = app_signed_by(moto, table_on(moto), wrong, monkeypatch, "keys")
    response = app.test_client().get("/userDetails?username=sam")
    assert response.status_code == 500  # a deployment error, never a 503 to retry
