"""app/metrics.py: one EMF line per request, valid against CloudWatch's published schema,
counting what the answer was. The same line under the real runtime: tests/test_lambda_logs.py.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import handler
from app import create_app, metrics
from tests.channels import LambdaContext
from tests.emf import EMF_VALIDATOR, counted, emf_lines
from tests.events import http_api_v2_event
from tests.http_types import HttpRequest
from tests.stores import basic_auth

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CROSS_SITE = {**FORM, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


class Recorder:
    """Requests through the Flask test client, each answered with exactly one EMF line."""

    def __init__(self, client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
        self.client = client
        self.capsys = capsys
        self.seen: set[str] = set()

    def counts(self, method: str, path: str, status: int, **kwargs: Any) -> dict[str, int]:
        self.capsys.readouterr()
        response = self.client.open(path, method=method, **kwargs)
        assert response.status_code == status, response.get_data(as_text=True)
        [document] = emf_lines(self.capsys.readouterr().out)
        found = counted(document)
        found.pop(metrics.COLD_STARTS, None)  # whichever request comes first in this process
        self.seen |= found.keys()
        return found


@pytest.fixture
def recorder(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> Recorder:
    return Recorder(client, capsys)


REQUEST = {metrics.REQUESTS: 1}


def test_each_outcome_is_counted_once_by_what_it_was(recorder: Recorder) -> None:
    sign_up = "username=ann&password=anns-password&firstname=Ann"
    assert recorder.counts("POST", "/userSignUp", 200, data=sign_up, headers=FORM) == {
        **REQUEST,
        metrics.SIGN_UPS: 1,
    }
    assert recorder.counts("POST", "/userSignUp", 409, data=sign_up, headers=FORM) == {
        **REQUEST,
        metrics.CONFLICTS: 1,
    }
    details = "username=ann&firstname=Ann&lastname=Lee"
    owner = {**FORM, **basic_auth("ann", "anns-password")}
    assert recorder.counts("POST", "/userDetails", 201, data=details, headers=owner) == {
        **REQUEST,
        metrics.DETAILS_WRITES: 1,
    }
    read = "/userDetails?username=ann"
    assert recorder.counts("GET", read, 200, headers=basic_auth("ann", "anns-password")) == {
        **REQUEST,
        metrics.DETAILS_READS: 1,
    }
    assert recorder.counts("GET", read, 401) == {**REQUEST, metrics.UNAUTHORIZED: 1}
    assert recorder.counts("GET", read, 401, headers=basic_auth("ann", "wrong-password")) == {
        **REQUEST,
        metrics.UNAUTHORIZED: 1,
        metrics.WRONG_PASSWORDS: 1,
    }
    sign_up_bob = "username=bob&password=bobs-password"
    recorder.counts("POST", "/userSignUp", 200, data=sign_up_bob, headers=FORM)
    assert recorder.counts("GET", read, 403, headers=basic_auth("bob", "bobs-password")) == {
        **REQUEST,
        metrics.FORBIDDEN: 1,
    }
    # A cross-site form post: a CrossSiteRefusal, and not also a Forbidden.
    cross_site = {**CROSS_SITE, **basic_auth("ann", "anns-password")}
    assert recorder.counts("POST", "/userDetails", 403, data=details, headers=cross_site) == {
        **REQUEST,
        metrics.CROSS_SITE_REFUSALS: 1,
    }
    assert recorder.counts("GET", "/nowhere", 404) == REQUEST
    assert recorder.counts("POST", "/userDetails", 400, data="username=ann", headers=FORM) == {
        **REQUEST
    }
    change = "username=ann&password=anns-new-password"
    assert recorder.counts("POST", "/userPassword", 200, data=change, headers=owner) == {
        **REQUEST,
        metrics.PASSWORD_CHANGES: 1,
    }
    erase = "/userDetails?username=ann"
    assert recorder.counts(
        "DELETE", erase, 204, headers=basic_auth("ann", "anns-new-password")
    ) == {
        **REQUEST,
        metrics.ERASURES: 1,
    }
    assert recorder.counts("DELETE", erase, 404) == REQUEST  # nothing left: not an erasure


def test_an_account_wait_is_counted_apart_from_other_429s(recorder: Recorder) -> None:
    recorder.counts(
        "POST", "/userSignUp", 200, data="username=cy&password=cys-password", headers=FORM
    )
    read = "/userDetails?username=cy"
    for _ in range(5):  # app/auth.py FREE_FAILURES
        recorder.counts("GET", read, 401, headers=basic_auth("cy", "wrong-password"))
    waited = recorder.counts("GET", read, 429, headers=basic_auth("cy", "cys-password"))
    assert waited == {**REQUEST, metrics.ACCOUNT_WAITS: 1}
    # A 429 the function answers for any other reason is a TooManyRequests.
    other = metrics.request_counts("GET", "/userDetails", 429, Counter())
    assert other == {**REQUEST, metrics.TOO_MANY_REQUESTS: 1}


def test_a_locked_store_is_a_store_unavailable(tmp_path: Path, capsys) -> None:
    database = tmp_path / "users.sqlite3"
    app = create_app({"TESTING": True, "USERS_DB": str(database), "DB_BUSY_TIMEOUT_MS": 1})
    client = app.test_client()
    assert client.post("/userSignUp", data="username=dee", headers=FORM).status_code == 200
    recorder = Recorder(client, capsys)
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the file past the busy timeout
    try:
        found = recorder.counts("POST", "/userSignUp", 503, data="username=eve", headers=FORM)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert found == {**REQUEST, metrics.STORE_UNAVAILABLE: 1}


def test_a_bug_is_an_unexpected_error(app: Flask, recorder: Recorder) -> None:
    @app.get("/bug")
    def bug() -> str:
        raise KeyError("internal detail")

    assert recorder.counts("GET", "/bug", 500) == {**REQUEST, metrics.UNEXPECTED_ERRORS: 1}


def test_an_adapter_failure_outside_the_app_is_an_unexpected_error(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("adapter broke")

    monkeypatch.setattr(handler.serverless_wsgi, "handle_request", broken)
    capsys.readouterr()
    context = LambdaContext()
    result = handler.handler(http_api_v2_event(HttpRequest("GET", "/userDetails")), context)
    assert result["statusCode"] == 500
    [document] = emf_lines(capsys.readouterr().out)
    assert document["requestId"] == context.aws_request_id
    found = counted(document)
    found.pop(metrics.COLD_STARTS, None)
    assert found == {**REQUEST, metrics.UNEXPECTED_ERRORS: 1}


def test_only_the_first_line_of_a_container_counts_a_cold_start(
    monkeypatch: pytest.MonkeyPatch, client: FlaskClient, capsys
) -> None:
    monkeypatch.setattr(metrics, "_first_line_of_container", True)
    capsys.readouterr()
    for _ in range(3):
        client.get("/nowhere")
    documents = emf_lines(capsys.readouterr().out)
    assert [counted(d).get(metrics.COLD_STARTS) for d in documents] == [1, None, None]


@pytest.mark.parametrize(
    ("method", "route", "status", "metric"),
    [
        # The endpoints' success counts, by route (SUCCESS_METRICS).
        ("POST", "/userPassword", 200, metrics.PASSWORD_CHANGES),
        ("DELETE", "/userDetails", 204, metrics.ERASURES),
        ("POST", "/userSignUp", 200, metrics.SIGN_UPS),
    ],
)
def test_success_on_a_route_counts_its_metric(
    method: str, route: str, status: int, metric: str
) -> None:
    assert metrics.request_counts(method, route, status, Counter()) == {**REQUEST, metric: 1}
    assert metrics.request_counts(method, route, 404, Counter()) == REQUEST


def test_the_line_carries_counts_the_stage_and_the_request_id_only(capsys) -> None:
    every = Counter(dict.fromkeys(metrics.ALL_METRICS, 1))
    metrics.write_line(every, "req-1")
    [document] = emf_lines(capsys.readouterr().out)
    assert set(counted(document)) == set(metrics.ALL_METRICS)
    assert set(document) == {
        "_aws",
        metrics.STAGE_DIMENSION,
        "requestId",
        "level",
        *metrics.ALL_METRICS,
    }
    assert document[metrics.STAGE_DIMENSION] == metrics.STAGE


def test_the_schema_check_refuses_a_document_cloudwatch_would_not_extract() -> None:
    [document] = [metrics.emf_document(Counter({metrics.REQUESTS: 1}), None, 1)]
    EMF_VALIDATOR.validate(document)
    del document["_aws"]["Timestamp"]
    assert not EMF_VALIDATOR.is_valid(document)


@pytest.mark.parametrize(
    ("configured", "level"),
    [
        (None, "INFO"),
        ("TRACE", "INFO"),
        ("DEBUG", "INFO"),
        ("INFO", "INFO"),
        ("WARN", "WARN"),
        ("ERROR", "ERROR"),
        ("FATAL", "FATAL"),
        ("nonsense", "INFO"),
    ],
)
def test_the_line_carries_a_level_lambdas_filter_keeps(configured: str | None, level: str) -> None:
    # Lambda drops a line below the function's log level, and takes one without a level as INFO.
    assert metrics.kept_level(configured) == level
