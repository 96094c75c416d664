"""Lambda's JSON log format, under the real Python runtime (awslambdaric via RIE).

serverless.yml sets logFormat JSON, which makes Lambda start the runtime with
AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL=<applicationLogLevel>. The runtime then
renders `logging` records as JSON objects carrying the request id; whatever is written to stdout
directly stays raw text. Here: every line the app writes, for good, bad and rejected requests,
is one JSON object with the invocation's requestId, and carries no password, body, query string
or Authorization header.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

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
    records = [json.loads(line) for line in lines]  # every line: one JSON object
    assert all(isinstance(record, dict) for record in records), lines
    # Init (the handler's import: RIE runs it lazily inside the first invoke, AWS before it)
    # belongs to no request: botocore's client setup logs there without a requestId. From the
    # first request on, every line carries its invocation's id.
    first = next(i for i, r in enumerate(records) if r.get("requestId"))
    assert all(r["logger"].startswith("botocore") for r in records[:first]), lines
    assert all(r.get("requestId") in request_ids for r in records[first:]), lines
    by_message: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_message.setdefault(record["message"], []).append(record)
    assert [r["requestId"] for r in by_message["request"]] == request_ids[:-1]
    assert by_message["rejected event"][0]["requestId"] == request_ids[-1]
    assert [r["path"] for r in by_message["request"]] == [r.path for r in requests()]
    assert by_message["rejected event"][0]["level"] == "WARNING"
    for secret in (PASSWORD, SECRET_QUERY[1], BEARER, "authorization-secret"):
        assert secret not in logs


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
