"""Lambda's JSON log format, under the real Python runtime (awslambdaric via RIE).

serverless.yml sets logFormat JSON, which makes Lambda start the runtime with
AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL=<applicationLogLevel>. The runtime then
renders `logging` records as JSON objects carrying the request id; whatever is written to stdout
directly stays raw text. Here: every line the app writes, for good, bad and rejected requests,
is one JSON object with the invocation's requestId, and carries no password, body, query string
or Authorization header.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest

from app import metrics
from tests.emf import counted, emf_lines
from tests.events import http_api_v2_event, sqs_event
from tests.http_types import HttpRequest
from tests.lambda_runtime import running_lambda
from tests.offline_server import ROOT
from tests.stores import DynamoTable

pytest_plugins = ["tests.conftest_dynamo"]
pytestmark = pytest.mark.slow

PASSWORD = "pw-" + "never-in-logs-42"
SECRET_QUERY = ("token", "query-" + "secret-17")
BEARER = "Bearer " + "authorization-secret-99"
FORM = (("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", BEARER))
# Lines the emulator itself writes (its own log, START/END/REPORT): not the app's. On AWS, with
# logFormat JSON, the platform's lines are JSON too.
EMULATOR_LINE = re.compile(
    r"^(\d\d \w{3} \d{4} \d\d:\d\d:\d\d,\d{3} \[|(START|END|REPORT|INIT_REPORT|INIT REPORT) )"
)


def requests() -> list[HttpRequest]:
    return [
        HttpRequest(
            "POST",
            "/userSignUp",
            headers=FORM,
            body=f"username=logs&password={PASSWORD}".encode(),
            query=(SECRET_QUERY,),
        ),
        HttpRequest("POST", "/userDetails", headers=FORM, body=b"username=logs&firstname=x"),
        HttpRequest(
            "GET", "/userDetails", headers=FORM, query=(("username", "logs"), SECRET_QUERY)
        ),
    ]


def logs_after(fn: Any, invocations: int, timeout: float = 10.0) -> str:
    """The log once every invocation's REPORT line is in (they may land after invoke returns)."""
    deadline = time.monotonic() + timeout
    while (logs := fn.logs()).count("REPORT RequestId: ") < invocations:
        assert time.monotonic() < deadline, logs
        time.sleep(0.05)
    return logs


def app_lines(logs: str) -> list[str]:
    return [line for line in logs.splitlines() if line.strip() and not EMULATOR_LINE.match(line)]


def test_every_app_log_line_is_json_with_the_request_id(dynamo_table: DynamoTable) -> None:
    env = {
        "USERS_TABLE": dynamo_table.name,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamo_table.endpoint_url,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
    }
    with running_lambda("handler.handler", env=env, cwd=ROOT) as fn:
        for request in requests():
            fn.invoke(http_api_v2_event(request), check=True)
        fn.invoke({"not": "an http event"}, check=True)  # rejected: logged as a warning
        logs = logs_after(fn, len(requests()) + 1)
    request_ids = re.findall(r"^START RequestId: (\S+)", logs, re.M)
    assert len(request_ids) == len(requests()) + 1
    lines = app_lines(logs)
    every = [json.loads(line) for line in lines]  # every line: one JSON object
    assert all(isinstance(record, dict) for record in every), lines
    # The metrics line of each request (app/metrics.py), apart from the `logging` records.
    metric_lines = [record for record in every if "_aws" in record]
    records = [record for record in every if "_aws" not in record]
    assert [m["requestId"] for m in metric_lines] == request_ids[:-1]
    # Init (the handler's import: RIE runs it lazily inside the first invoke, AWS before it)
    # logs nothing, and every line carries its invocation's id.
    assert all(r.get("requestId") in request_ids for r in records), lines
    by_message: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_message.setdefault(record["message"], []).append(record)
    assert [r["requestId"] for r in by_message["request"]] == request_ids[:-1]
    assert by_message["rejected event"][0]["requestId"] == request_ids[-1]
    assert [r["path"] for r in by_message["request"]] == [r.path for r in requests()]
    assert by_message["rejected event"][0]["level"] == "WARNING"
    for secret in (PASSWORD, SECRET_QUERY[1], BEARER, "authorization-secret"):
        assert secret not in logs


def basic(credentials: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())


JSON_BODY = ("Content-Type", "application/json")


def test_a_wrong_password_is_one_emf_line_counting_the_401(dynamo_table: DynamoTable) -> None:
    """Under the JSON log format a stdout line that is a JSON object reaches the log as that
    object, which CloudWatch extracts metrics from; a `logging` record is wrapped in the
    runtime's own object (its text in "message"), so EMF written through `logging` would not be."""
    env = {
        "USERS_TABLE": dynamo_table.name,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamo_table.endpoint_url,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "SERVICE_STAGE": "prod",
    }
    sign_up = json.dumps({"username": "emf", "password": PASSWORD}).encode()
    wrong = HttpRequest(
        "GET",
        "/userDetails",
        query=(("username", "emf"),),
        headers=(basic("emf:not-the-password"),),
    )
    with running_lambda("handler.handler", env=env, cwd=ROOT) as fn:
        created = fn.invoke(
            http_api_v2_event(HttpRequest("POST", "/userSignUp", (), (JSON_BODY,), sign_up)),
            check=True,
        )
        assert created["statusCode"] == 200, created
        before = len(fn.logs())
        result = fn.invoke(http_api_v2_event(wrong), check=True)
        assert result["statusCode"] == 401
        logs = logs_after(fn, 2)[before:]
    [request_id] = re.findall(r"^START RequestId: (\S+)", logs, re.M)
    [document] = emf_lines("\n".join(app_lines(logs)))  # schema-checked
    assert document["requestId"] == request_id
    assert document[metrics.STAGE_DIMENSION] == "prod"
    assert counted(document) == {
        metrics.REQUESTS: 1,
        metrics.UNAUTHORIZED: 1,
        metrics.WRONG_PASSWORDS: 1,
    }
    [wrapped] = [json.loads(line) for line in app_lines(logs) if '"_aws"' not in line]
    assert wrapped["message"] == "request" and wrapped["logger"] == "user_api"
    assert wrapped["requestId"] == request_id


# AWS_LAMBDA_LOG_LEVEL: every value serverless.yml's logLevel param accepts
# (serverless_plugins/params.js LOG_LEVELS).
ACCEPTED_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
# Credentials distinctive enough to find in any line (DynamoDB Local takes any).
ACCESS_KEY_ID = "AKIA" + "OBSERVELOGS4242"
SECRET_ACCESS_KEY = "observe-secret-" + "access-key-never-logged"
SESSION_TOKEN = "observe-session-" + "token-never-logged"
FIRST_NAME, LAST_NAME = "Zebulonia", "Quillfeatherby"


def secret_requests(owner: str) -> list[tuple[HttpRequest, int]]:
    """Sign-up, details write and read, wrong passwords: each request and its status."""
    owner_auth = basic(f"{owner}:{PASSWORD}")
    details = json.dumps({"username": owner, "firstname": FIRST_NAME, "lastname": LAST_NAME})
    read = (("username", owner),)
    sign_up = {"username": owner, "password": PASSWORD, "firstname": FIRST_NAME}
    return [
        (HttpRequest("POST", "/userSignUp", (), (JSON_BODY,), json.dumps(sign_up).encode()), 200),
        (HttpRequest("POST", "/userDetails", (), (JSON_BODY, owner_auth), details.encode()), 201),
        (HttpRequest("GET", "/userDetails", read, (owner_auth,)), 200),
        (HttpRequest("GET", "/userDetails", read, (basic(f"{owner}:{PASSWORD}x"),)), 401),
        (HttpRequest("GET", "/userDetails", read, (basic(f"{owner}:{BEARER}"),)), 401),
        # Details without credentials on an open name: names in the body, nobody to check.
        (
            HttpRequest(
                "POST",
                "/userDetails",
                (),
                (JSON_BODY,),
                json.dumps({"username": owner + "-open", "lastname": LAST_NAME}).encode(),
            ),
            201,
        ),
    ]


@pytest.mark.parametrize("level", ACCEPTED_LOG_LEVELS)
def test_no_secret_or_name_in_any_line_at_any_log_level(
    dynamo_table: DynamoTable, level: str
) -> None:
    env = {
        "USERS_TABLE": dynamo_table.name,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamo_table.endpoint_url,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": level,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
    }
    owner = f"secrets-{level.lower()}"
    requests_ = secret_requests(owner)
    with running_lambda("handler.handler", env=env, cwd=ROOT) as fn:
        for request, status in requests_:
            result = fn.invoke(http_api_v2_event(request), check=True)
            assert result["statusCode"] == status, (request, result)
        logs = logs_after(fn, len(requests_))
    authorizations = {
        value for r, _ in requests_ for name, value in r.headers if name == "Authorization"
    }
    forbidden = {
        PASSWORD,
        BEARER,
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
        FIRST_NAME,
        LAST_NAME,
        "$argon2",  # any password hash (app/passwords.py)
        "scrypt:",
        *authorizations,
        *(value.split(" ", 1)[1] for value in authorizations),  # the credentials alone
    }
    lines = app_lines(logs)
    for secret in forbidden:
        assert not [line for line in lines if secret.lower() in line.lower()], secret
    # The records this level lets through still arrive (the check above is not vacuous).
    emitted = [json.loads(line) for line in lines]
    metric_lines = [e for e in emitted if "_aws" in e]
    assert len(metric_lines) == len(requests_)
    # Each at a level Lambda's log-level filter keeps at this logLevel (it is not applied here).
    lowest_kept = max(ACCEPTED_LOG_LEVELS.index(level), ACCEPTED_LOG_LEVELS.index("INFO"))
    assert {ACCEPTED_LOG_LEVELS.index(m["level"]) for m in metric_lines} == {lowest_kept}
    requests_logged = [e for e in emitted if e.get("message") == "request"]
    assert len(requests_logged) == (len(requests_) if level in ("TRACE", "DEBUG", "INFO") else 0)
    assert not [
        e for e in emitted if "_aws" not in e and not e["logger"].startswith(("user_api", "app"))
    ]


def test_an_event_from_another_service_fails_the_invocation_logged_once(
    dynamo_table: DynamoTable,
) -> None:
    env = {
        "USERS_TABLE": dynamo_table.name,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamo_table.endpoint_url,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
    }
    with running_lambda("handler.handler", env=env, cwd=ROOT) as fn:
        result = fn.invoke(sqs_event(body="order 17"))
        logs = logs_after(fn, 1)
    # The invocation failed (SQS would retry or dead-letter the message), naming what arrived.
    assert result["errorType"] == "EventFromAnotherService", result
    assert "invoked with 1 record(s) from aws:sqs" in result["errorMessage"]
    mentions = [line for line in app_lines(logs) if "record(s) from aws:sqs" in line]
    assert len(mentions) == 1, logs  # logged once, by the runtime
    assert json.loads(mentions[0])["requestId"] in logs
    assert "order 17" not in logs  # the message itself is not logged
