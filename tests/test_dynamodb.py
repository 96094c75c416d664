"""The DynamoDB backend beyond the shared store contract (tests/test_store.py):
deployment config, misconfiguration, faults over real sockets, exactly-once sign-up
when a response is lost. (The HTTP contract on DynamoDB runs through the real Lambda
runtime, tests/test_contract.py.)"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.security import generate_password_hash

from app import auth, create_app
from app.config import ConfigurationError
from app.passwords import hash_password, verify_password
from app.store.dynamodb import MAX_CALLS_PER_REQUEST, ClientSettings, DynamoUserStore, shared_client
from tests import dynamo_server
from tests.stores import DynamoTable, app_config, basic_auth

pytest_plugins = ["tests.conftest_dynamo"]

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Short enough that every fault test finishes in about a second.
FAST_FAILING = {
    "DYNAMODB_CONNECT_TIMEOUT": 0.2,
    "DYNAMODB_READ_TIMEOUT": 0.3,
    "DYNAMODB_MAX_ATTEMPTS": 2,
}
HASH_AND_REQUEST_MARGIN_S = 0.5


def dynamo_app(table: DynamoTable, tmp_path: Path, **overrides: Any) -> Flask:
    return create_app({"TESTING": True, **app_config("dynamodb", tmp_path, table), **overrides})


def items(client: Any, table: DynamoTable) -> list[dict[str, Any]]:
    return dynamo_server.scan_all(client, table.name)


# ---------------------------------------------------------------- serverless.yml


def test_table_is_pay_per_request_and_protected_from_deletion() -> None:
    resource = dynamo_server.table_resource()
    properties = resource["Properties"]
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True


@contextmanager
def dynamodb_operations(store: DynamoUserStore) -> Iterator[list[str]]:
    """The DynamoDB operations the store's client calls while the block runs, in order."""
    operations: list[str] = []
    client = store.client

    class Recording:
        def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
            operations.append(operation)
            return client.call(operation, request)

        def close(self) -> None:
            client.close()

    store.client = Recording()
    try:
        yield operations
    finally:
        store.client = client


def test_function_gets_the_table_name_and_exactly_the_actions_the_code_uses(
    dynamo_table: DynamoTable, tmp_path: Path
) -> None:
    provider = dynamo_server.serverless_config()["provider"]
    assert provider["environment"]["USERS_TABLE"] == {"Ref": "UsersTable"}
    dynamo_statements = [
        s
        for s in provider["iam"]["role"]["statements"]
        if any(str(a).startswith("dynamodb:") for a in s["Action"])
    ]
    assert len(dynamo_statements) == 1
    (statement,) = dynamo_statements
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == {"Fn::GetAtt": ["UsersTable", "Arn"]}

    # Every path through the app (both sign-up outcomes, details, lookups, erasure), recorded.
    app = dynamo_app(dynamo_table, tmp_path)
    store = app.extensions["user_store"]
    assert isinstance(store, DynamoUserStore)
    with dynamodb_operations(store) as operations:
        client = app.test_client()
        client.post("/userDetails", data="username=sam&lastname=king", headers=FORM)
        client.post("/userSignUp", data="username=sam&password=long-enough-1", headers=FORM)
        client.post("/userSignUp", data="username=sam", headers=FORM)
        client.post("/userSignUp", data="username=sam&password=long-enough-1", headers=FORM)
        owner = {**FORM, **basic_auth("sam", "long-enough-1")}
        client.post("/userDetails", data="username=sam&lastname=queen", headers=owner)
        client.get("/userDetails?username=sam")
        client.get("/userDetails?username=nobody")
        client.delete("/userDetails?username=sam", headers=owner)
    assert {"dynamodb:" + name for name in operations} == set(statement["Action"])


def test_worst_case_store_calls_fit_the_function_timeout(
    dynamo_table: DynamoTable, tmp_path: Path
) -> None:
    """The longest way a request goes through the store, driven for real: the owner of a
    guarded account (its free wrong guesses used up) writes details, so the attempt is
    claimed before the password is checked; then another request's upgrade of the legacy
    hash lands before the write, which is refused: a 409, not a retry. Every call may take
    the client's worst case."""
    # Patient here (a loaded test machine is no fault); the budget is the default client's.
    app = dynamo_app(dynamo_table, tmp_path, DYNAMODB_READ_TIMEOUT=5)
    store = app.extensions["user_store"]
    # Another container: a client of its own (other settings), so its calls are not recorded.
    racer = DynamoUserStore(
        dynamo_table.name, ClientSettings(endpoint_url=dynamo_table.endpoint_url, read_timeout=6)
    )
    password = "long-enough-1"
    legacy = generate_password_hash(password, method="scrypt")
    racer.create_account("sam", legacy, None)
    for _ in range(auth.FREE_FAILURES):  # from the test client's address, long enough ago
        user = racer.get_user("sam")
        assert user is not None
        racer.record_failed_login(user, "127.0.0.1", time.time() - 3600)
    client = store.client

    class UpgradeLandsBeforeTheWrite:
        """The store's client, with another request's hash upgrade landing after the claim."""

        updates = 0

        def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
            if operation == "UpdateItem":
                self.updates += 1
                if self.updates == 2:  # after the claim, before the details write
                    racer.replace_password_hash("sam", legacy, hash_password(password))
            return client.call(operation, request)

        def close(self) -> None:
            client.close()

    store.client = UpgradeLandsBeforeTheWrite()
    owner = {**FORM, **basic_auth("sam", password)}
    try:
        with dynamodb_operations(store) as operations:
            response = app.test_client().post(
                "/userDetails", data="username=sam&lastname=king", headers=owner
            )
    finally:
        store.client = client
    assert response.status_code == 409, response.get_data(as_text=True)
    assert operations == ["GetItem", "UpdateItem", "UpdateItem"]
    user = racer.get_user("sam")
    assert user is not None and user.lastname is None  # nothing slipped in
    assert len(operations) <= MAX_CALLS_PER_REQUEST
    timeout = dynamo_server.serverless_config()["provider"]["timeout"]
    worst = ClientSettings().worst_case_seconds() * len(operations)
    assert worst + HASH_AND_REQUEST_MARGIN_S < timeout, (worst, timeout)


# ---------------------------------------------------------------- configuration


def test_inside_lambda_without_a_table_the_app_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "users.sqlite3"
    with pytest.raises(ConfigurationError, match="USERS_TABLE is not set"):
        create_app({"LAMBDA_FUNCTION_NAME": "user-api-dev-api", "USERS_DB": str(db)})
    assert not db.exists()


def test_serverless_offline_may_still_use_sqlite(tmp_path: Path) -> None:
    config = {"LAMBDA_FUNCTION_NAME": "user-api-dev-api", "LAMBDA_EMULATED": True}
    app = create_app({**config, "USERS_DB": str(tmp_path / "users.sqlite3")})
    form = "username=sam&lastname=king"
    assert app.test_client().post("/userDetails", data=form, headers=FORM).status_code == 201


@pytest.mark.parametrize(
    ("variable", "value", "runtime_api"),
    [
        ("IS_OFFLINE", "true", False),
        ("IS_LOCAL", "true", False),
        ("IS_OFFLINE", "", False),
        # Set in a real function's environment by mistake: still the real runtime.
        ("IS_OFFLINE", "true", True),
    ],
)
def test_emulation_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, runtime_api: bool
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "user-api-dev-api")
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("USERS_DB", str(tmp_path / "users.sqlite3"))
    if runtime_api:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    else:
        monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    if value and not runtime_api:
        assert create_app().config["LAMBDA_EMULATED"] is True
    else:
        with pytest.raises(ConfigurationError):
            create_app()


def test_an_unresolved_table_reference_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # What serverless-offline passes for `USERS_TABLE: !Ref UsersTable`.
    monkeypatch.setenv("USERS_TABLE", "[object Object]")
    with pytest.raises(ConfigurationError, match="unresolved CloudFormation reference"):
        create_app()


@pytest.mark.slow
def test_sqlite_runs_never_import_boto3(tmp_path: Path) -> None:
    # boto3 is not in requirements.txt, and no path of the function imports it.
    probe = (
        f"import sys; sys.path.insert(0, {str(dynamo_server.REPO)!r}); from app import create_app;"
        f"create_app({{'USERS_DB': {str(tmp_path / 'u.sqlite3')!r}}}).test_client()"
        ".get('/userDetails?username=x');"
        "sys.exit('boto3' in sys.modules or 'botocore' in sys.modules)"
    )
    subprocess.run([sys.executable, "-I", "-c", probe], cwd=dynamo_server.REPO, check=True)


def test_the_client_is_built_once_per_process_and_settings(
    dynamo_table: DynamoTable, tmp_path: Path
) -> None:
    first = dynamo_app(dynamo_table, tmp_path).extensions["user_store"]
    second = dynamo_app(dynamo_table, tmp_path).extensions["user_store"]
    assert first.client is second.client
    assert first.client is shared_client(ClientSettings(endpoint_url=dynamo_table.endpoint_url))


# ---------------------------------------------------------------- what is stored


def test_one_item_per_user_holding_only_an_argon2id_hash(
    dynamo_table: DynamoTable, tmp_path: Path, dynamodb_admin: Any
) -> None:
    client = dynamo_app(dynamo_table, tmp_path).test_client()
    password = "correct-horse-battery-staple"
    form = f"username=Sam&password={password}&firstname=john"
    assert client.post("/userSignUp", data=form, headers=FORM).status_code == 200
    credentials = basic_auth("sam", password)
    response = client.post(
        "/userDetails", data="username=SAM&lastname=king", headers={**FORM, **credentials}
    )
    assert response.status_code == 201
    (item,) = items(dynamodb_admin, dynamo_table)
    assert item["pk"] == {"S": "USER#sam"} and item["sk"] == {"S": "PROFILE"}
    assert set(item) == {
        *("pk", "sk", "username", "password_hash", "account_firstname", "created_at", "token"),
        *("lastname", "updated_at"),  # no details firstname given
    }
    assert item["username"] == {"S": "Sam"}  # the spelling of the sign-up
    assert item["password_hash"]["S"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(item["password_hash"]["S"], password)
    assert password not in json.dumps(item)
    assert client.get("/userDetails?username=sAm", headers=credentials).json == {
        "username": "Sam",
        "firstname": "john",
        "lastname": "king",
    }


# ---------------------------------------------------------------- faults


def assert_503(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "2"
    assert response.json["detail"].startswith("The user store is temporarily unavailable")


def assert_every_route_is_a_503(app: Flask) -> None:
    client = app.test_client()
    assert_503(client.post("/userSignUp", data="username=sam", headers=FORM))
    assert_503(client.post("/userDetails", data="username=sam&lastname=king", headers=FORM))
    assert_503(client.get("/userDetails?username=sam"))


def assert_nothing_was_written(
    table: DynamoTable, tmp_path: Path, dynamodb_admin: Any, healthy: bool = True
) -> None:
    assert items(dynamodb_admin, table) == []
    if healthy:  # and the username is still free for a retry against the real server
        client = dynamo_app(table, tmp_path).test_client()
        assert client.post("/userSignUp", data="username=sam", headers=FORM).status_code == 200


def test_a_refused_connection_is_a_503_and_nothing_is_written(
    dynamo_table: DynamoTable, tmp_path: Path, dynamodb_admin: Any
) -> None:
    endpoint = dynamo_server.refusing_endpoint()
    app = dynamo_app(dynamo_table, tmp_path, DYNAMODB_ENDPOINT_URL=endpoint, **FAST_FAILING)
    started = time.monotonic()
    assert_every_route_is_a_503(app)
    assert time.monotonic() - started < 3
    assert_nothing_was_written(dynamo_table, tmp_path, dynamodb_admin)


def test_a_stalled_server_is_a_503_within_the_read_timeout(
    dynamo_table: DynamoTable, tmp_path: Path, dynamodb_admin: Any
) -> None:
    with dynamo_server.stalling_endpoint() as endpoint:
        app = dynamo_app(dynamo_table, tmp_path, DYNAMODB_ENDPOINT_URL=endpoint, **FAST_FAILING)
        started = time.monotonic()
        assert_every_route_is_a_503(app)
        elapsed = time.monotonic() - started
    # 3 requests x 2 attempts x 0.3 s read timeout, plus backoff: well under 3 s.
    assert elapsed < 3, elapsed
    assert_nothing_was_written(dynamo_table, tmp_path, dynamodb_admin)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ProvisionedThroughputExceededException"),
        (400, "ThrottlingException"),
        (400, "RequestLimitExceeded"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ],
)
def test_throttling_and_server_errors_are_503s_after_the_retries(
    dynamo_table: DynamoTable, tmp_path: Path, status: int, code: str
) -> None:
    with dynamo_server.error_endpoint(status, code) as (endpoint, seen):
        app = dynamo_app(
            dynamo_table,
            tmp_path,
            DYNAMODB_ENDPOINT_URL=endpoint,
            **{**FAST_FAILING, "DYNAMODB_MAX_ATTEMPTS": 2},
        )
        assert_503(app.test_client().post("/userSignUp", data="username=sam", headers=FORM))
    assert seen.operations == ["UpdateItem", "UpdateItem"]  # retried once, then gave up


def test_a_missing_table_is_a_500_naming_the_table(
    dynamodb_server: dynamo_server.Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A deployment bug: a 503 would tell clients to retry something that cannot succeed.
    table = DynamoTable(dynamodb_server.endpoint_url, "no-such-table")
    client = dynamo_app(table, tmp_path).test_client()
    with caplog.at_level(logging.ERROR):
        response = client.post("/userSignUp", data="username=sam", headers=FORM)
    assert response.status_code == 500
    assert "request_id" in response.json
    assert "USERS_TABLE 'no-such-table' cannot be used: ResourceNotFoundException" in caplog.text


@pytest.mark.parametrize(
    ("form", "reads"),
    [("username=sam&firstname=j", []), ("username=sam&password=long-enough-1", ["GetItem"])],
    ids=["open", "protected"],
)
def test_a_sign_up_whose_response_was_lost_succeeds_once_on_retry(
    dynamo_table: DynamoTable, tmp_path: Path, form: str, reads: list[str]
) -> None:
    """The first write lands but its answer never arrives; the client retries, and the
    retry finds the account already there. It is ours (same token), so: 200, not 409.
    """
    proxy = dynamo_server.response_losing_proxy(dynamo_table.endpoint_url, "UpdateItem", lose=1)
    with proxy as (endpoint, seen):
        app = dynamo_app(
            dynamo_table,
            tmp_path,
            DYNAMODB_ENDPOINT_URL=endpoint,
            DYNAMODB_READ_TIMEOUT=0.5,
            DYNAMODB_MAX_ATTEMPTS=3,
        )
        client = app.test_client()
        response = client.post("/userSignUp", data=form, headers=FORM)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert seen.operations == [*reads, "UpdateItem", "UpdateItem"]
        again = client.post("/userSignUp", data="username=SAM", headers=FORM)
        assert again.status_code == 409  # and it is still exclusive
    stored = dynamo_server.scan_all(
        dynamo_server.dynamodb_client(dynamo_table.endpoint_url), dynamo_table.name
    )
    assert [(item["username"]["S"], item["sk"]["S"]) for item in stored] == [("sam", "PROFILE")]


def test_a_details_write_without_credentials_is_one_request_unless_the_account_is_protected(
    dynamo_table: DynamoTable, tmp_path: Path
) -> None:
    app = dynamo_app(dynamo_table, tmp_path)
    store = app.extensions["user_store"]
    client = app.test_client()

    def details(form: str, headers: dict[str, str]) -> tuple[int, list[str]]:
        with dynamodb_operations(store) as operations:
            response = client.post("/userDetails", data=form, headers=headers)
        return response.status_code, operations

    # New, then open: the conditional write alone.
    assert details("username=sam&lastname=king", FORM) == (201, ["UpdateItem"])
    assert details("username=sam&lastname=queen", FORM) == (201, ["UpdateItem"])
    sign_up = client.post("/userSignUp", data="username=pat&password=long-enough-1", headers=FORM)
    assert sign_up.status_code == 200
    # Protected, no credentials: the write is refused, which is the 401.
    assert details("username=pat&lastname=evil", FORM) == (401, ["UpdateItem"])
    # Credentials: read the account, verify, write on the verified hash.
    owner = {**FORM, **basic_auth("pat", "long-enough-1")}
    assert details("username=pat&lastname=king", owner) == (201, ["GetItem", "UpdateItem"])
    read = client.get("/userDetails?username=pat", headers=basic_auth("pat", "long-enough-1"))
    assert read.json["lastname"] == "king"


def test_a_guarded_owner_write_is_three_requests_and_clears_the_count(
    dynamo_table: DynamoTable, tmp_path: Path
) -> None:
    app = dynamo_app(dynamo_table, tmp_path)
    store = app.extensions["user_store"]
    client = app.test_client()
    form = "username=pat&password=long-enough-1"
    assert client.post("/userSignUp", data=form, headers=FORM).status_code == 200
    for _ in range(5):  # the free failures, long enough ago that the wait is over
        store.record_failed_login(store.get_user("pat"), "127.0.0.1", time.time() - 3600)
    owner = {**FORM, **basic_auth("pat", "long-enough-1")}
    with dynamodb_operations(store) as operations:
        response = client.post("/userDetails", data="username=pat&lastname=king", headers=owner)
    assert response.status_code == 201
    # Read, claim the attempt, write the details (which clears the count): no fourth call.
    assert operations == ["GetItem", "UpdateItem", "UpdateItem"]
    assert len(operations) <= MAX_CALLS_PER_REQUEST
    assert store.get_user("pat").failures == {}


@pytest.mark.slow  # starts Python processes
@pytest.mark.parametrize("optimize", ["1", "2"])
def test_pythonoptimize_in_the_functions_environment_is_refused_at_init(
    tmp_path: Path, optimize: str
) -> None:
    # -O bytecode has other file names: every shipped .pyc would be ignored and recompiled.
    probe = (
        "from app import create_app; from app.store import ConfigurationError\n"
        "try:\n"
        f"    create_app({{'USERS_DB': {str(tmp_path / 'u.sqlite3')!r}}})\n"
        "except ConfigurationError as error:\n"
        "    raise SystemExit(str(error))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONOPTIMIZE": optimize,
        "AWS_LAMBDA_FUNCTION_NAME": "user-api-dev-api",
        "USERS_TABLE": "users",
        "AWS_REGION": "us-east-1",
        **dynamo_server.DUMMY_AWS_ENV,
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=dynamo_server.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "PYTHONOPTIMIZE is set in Lambda function 'user-api-dev-api'" in result.stderr
    without = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=dynamo_server.REPO,
        env={k: v for k, v in env.items() if k != "PYTHONOPTIMIZE"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert without.returncode == 0, without.stderr
