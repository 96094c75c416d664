"""handler.py end to end, beyond the contract table: refusals, warm-up, failures, mounts,
cookies, status descriptions, client addresses, logs (the edge's rules: test_lambda_edge.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, make_response, request, url_for

import handler
from app import create_app
from app.config import ConfigurationError
from app.response_headers import header_policy
from lambda_edge import EVENT_KINDS, EventFromAnotherService, EventKind
from lambda_edge.header_policy import NOSNIFF, STRICT_TRANSPORT_SECURITY
from tests.channels import LambdaContext
from tests.events import (
    EC2_STATE_CHANGE,
    HTTP_API_HOST,
    build_event,
    dynamodb_stream_event,
    eventbridge_event,
    http_api_v2_event,
    kinesis_event,
    read_result,
    rest_v1_event,
    s3_event,
    sns_event,
    sqs_event,
)
from tests.http_types import HttpRequest


def get(path: str) -> HttpRequest:
    return HttpRequest("GET", path)


def answer(event: Any, kind: EventKind | None = None) -> dict[str, Any]:
    """The handler's result, after the shared check of its Lambda response shape."""
    result = handler.handler(event, LambdaContext())
    read_result(result, kind)
    return result


def problem_of(result: dict[str, Any]) -> dict[str, Any]:
    response = read_result(result)
    assert response.header("Content-Type") == "application/problem+json"
    assert response.header("X-Content-Type-Options") == NOSNIFF["X-Content-Type-Options"]
    assert result["isBase64Encoded"] is False
    return response.json()


SEED_GET = HttpRequest("GET", "/userDetails", query=(("username", "nobody"),))


def rest_event(**changes: Any) -> dict[str, Any]:
    return rest_v1_event(SEED_GET) | changes


def v2_event(**changes: Any) -> dict[str, Any]:
    return http_api_v2_event(SEED_GET) | changes


def without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


# -- events the edge refuses (the rules themselves: tests/test_lambda_edge.py)


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_a_refused_event_is_a_logged_400_problem_in_its_channel_shape(
    kind: EventKind, capsys: pytest.CaptureFixture[str]
) -> None:
    event = build_event(kind, HttpRequest("GET", "/userDetails"), base64_body=False)
    event["rawPath" if kind in ("http_api_v2", "function_url") else "path"] = "no-slash"
    event.pop("raw_path", None)
    context = LambdaContext()
    result = handler.handler(event, context)
    read_result(result, kind)
    assert result["statusCode"] == 400
    detail = problem_of(result)["detail"]
    assert detail.endswith("must be a string of valid Unicode starting with '/'.")
    assert problem_of(result) == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": detail,
    }
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (log["message"], log["kind"], log["detail"]) == ("rejected event", kind, detail)
    assert log["requestId"] == context.aws_request_id


@pytest.mark.parametrize(
    "event",
    [
        without(without(rest_event(), "headers"), "multiValueHeaders"),
        rest_event(headers=None, multiValueHeaders=None),
    ],
    ids=["absent", "null"],
)
def test_rest_event_without_headers_is_a_request_with_no_headers(event: dict[str, Any]) -> None:
    # API Gateway's console test invoke sends REST events like these.
    result = answer(event, "rest_v1")
    assert result["statusCode"] == 404
    assert problem_of(result)["detail"] == "No user named 'nobody'."


NOT_HTTP = {
    "empty object": {},
    "records of no known source": {"Records": [{"body": "hello"}]},
    "list": [1, 2],
    "string": "garbage",
    "null": None,
    "number": 42,
}


@pytest.mark.parametrize("event", NOT_HTTP.values(), ids=NOT_HTTP.keys())
def test_non_http_event_is_a_logged_400(event: Any, capsys: pytest.CaptureFixture[str]) -> None:
    context = LambdaContext()
    result = handler.handler(event, context)
    assert result["statusCode"] == 400
    assert problem_of(result)["detail"].startswith(("Not an HTTP event", "Expected an HTTP event"))
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log["message"] == "rejected event"
    assert log["requestId"] == context.aws_request_id


OTHER_SERVICES = {
    "SQS": (sqs_event(), "1 record(s) from aws:sqs"),
    "S3": (s3_event(), "1 record(s) from aws:s3"),
    "SNS": (sns_event(), "1 record(s) from aws:sns"),
    "Kinesis": (kinesis_event(), "1 record(s) from aws:kinesis"),
    "DynamoDB stream": (dynamodb_stream_event(), "1 record(s) from aws:dynamodb"),
    "EventBridge": (
        eventbridge_event(),
        f"an EventBridge event (source 'aws.ec2', detail-type '{EC2_STATE_CHANGE}')",
    ),
    "EventBridge, a schedule of another source": (
        eventbridge_event(source="aws.scheduler", detail_type="Scheduled Event"),
        "an EventBridge event (source 'aws.scheduler', detail-type 'Scheduled Event')",
    ),
}


@pytest.mark.parametrize(("event", "arrived"), OTHER_SERVICES.values(), ids=OTHER_SERVICES.keys())
def test_an_event_from_another_service_fails_the_invocation_naming_it(
    event: dict[str, Any], arrived: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(EventFromAnotherService) as raised:
        handler.handler(event, LambdaContext())
    assert f"invoked with {arrived}:" in str(raised.value)
    # Logged once, by the runtime that catches it; nothing of the app's own.
    assert capsys.readouterr().out == ""


def test_the_scheduled_warm_up_still_gets_its_204() -> None:
    ping = eventbridge_event(source="aws.events", detail_type="Scheduled Event")
    assert handler.handler(ping, LambdaContext())["statusCode"] == 204


def test_null_authorizer_and_null_base64_body_are_served() -> None:
    """Both crash serverless-wsgi; neither is the client's fault, so serve normally."""
    event = v2_event(isBase64Encoded=True)
    event["requestContext"]["authorizer"] = None
    result = answer(event, "http_api_v2")
    assert result["statusCode"] == 404  # the unknown user of SEED_GET, from the app


WARMUPS = {
    "serverless-plugin-warmup": {"source": "serverless-plugin-warmup"},
    "scheduled EventBridge": {
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/warm"],
    },
}


@pytest.mark.parametrize("event", WARMUPS.values(), ids=WARMUPS.keys())
def test_warmup_is_answered_without_reaching_the_app(
    event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    result = answer(event)
    assert result["statusCode"] == 204
    assert capsys.readouterr().out == ""  # the app logs every request it sees


def test_exception_escaping_the_app_becomes_a_500_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = Flask("broken")
    broken.config["PROPAGATE_EXCEPTIONS"] = True  # let the error escape Flask

    @broken.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(handler, "app", broken)
    context = LambdaContext()
    result = handler.handler(rest_v1_event(HttpRequest("GET", "/boom")), context)
    read_result(result, "rest_v1")
    assert result["statusCode"] == 500
    body = problem_of(result)
    assert body["request_id"] == context.aws_request_id
    assert "secret internals" not in result["body"]
    assert "secret internals" in capsys.readouterr().out  # the traceback, in the logs only


def test_bug_in_a_view_is_a_500_problem_with_the_request_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app({"USERS_DB": str(tmp_path / "u.sqlite3")})

    @app.get("/bug")
    def bug() -> str:
        raise KeyError("internal detail")

    monkeypatch.setattr(handler, "app", app)
    context = LambdaContext()
    result = handler.handler(http_api_v2_event(HttpRequest("GET", "/bug")), context)
    read_result(result, "http_api_v2")
    assert result["statusCode"] == 500
    assert problem_of(result)["request_id"] == context.aws_request_id
    assert "internal detail" not in result["body"]
    assert "internal detail" in caplog.text  # the traceback, in the logs only
    assert context.aws_request_id in caplog.text


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_a_chunked_request_body_is_still_read(kind: EventKind) -> None:
    """API Gateway buffers the body but may pass the client's Transfer-Encoding header on;
    werkzeug would then ignore Content-Length and read an empty body."""
    chunked = HttpRequest(
        "POST",
        "/userDetails",
        headers=(
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Transfer-Encoding", "chunked"),
        ),
        body=b"username=chunky&lastname=king",
    )
    response = read_result(answer(build_event(kind, chunked, base64_body=False)), kind)
    assert (response.status, response.body) == (201, b"Success")


# -- a probe app, for adapter behaviour the user API itself does not exercise


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Flask:
    probe = Flask("probe")

    @probe.get("/where")
    def where() -> dict[str, str]:
        return {"relative": url_for("where"), "external": url_for("where", _external=True)}

    @probe.get("/cookies")
    def cookies():
        response = make_response("baked")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2", httponly=True)
        response.headers.add("Link", "</x>; rel=preload")
        response.headers.add("Link", "</y>; rel=preload")
        return response

    @probe.get("/status/<int:code>")
    def status(code: int):
        return "", code

    @probe.get("/echo")
    def echo() -> dict[str, str | None]:
        return {
            "remote_addr": request.remote_addr,
            "cookie": request.headers.get("Cookie"),
            "forwarded_for": request.headers.get("X-Forwarded-For"),
        }

    monkeypatch.setattr(handler, "app", probe)
    return probe


MOUNTS = {
    "HTTP API $default stage": (
        http_api_v2_event(HttpRequest("GET", "/where")),
        "",
        "https://" + HTTP_API_HOST,
    ),
    "HTTP API named stage": (
        http_api_v2_event(HttpRequest("GET", "/where"), stage="prod"),
        "/prod",
        "https://" + HTTP_API_HOST,
    ),
    "REST named stage": (
        rest_v1_event(HttpRequest("GET", "/where"), stage="prod"),
        "/prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com",
    ),
    "function URL": (
        build_event("function_url", HttpRequest("GET", "/where"), base64_body=False),
        "",
        None,
    ),
    "ALB": (build_event("alb", HttpRequest("GET", "/where"), base64_body=False), "", None),
    "Lattice v2": (
        build_event("lattice_v2", HttpRequest("GET", "/where"), base64_body=False),
        "",
        "https://user-api-0a40eebed65f8d69c.7d67968.vpc-lattice-svcs.us-east-1.on.aws",
    ),
}


@pytest.mark.parametrize(("event", "prefix", "origin"), MOUNTS.values(), ids=MOUNTS.keys())
def test_url_for_matches_the_url_the_client_used(
    probe: Flask, event: dict[str, Any], prefix: str, origin: str | None
) -> None:
    result = answer(event)
    assert result["statusCode"] == 200, result
    urls = json.loads(result["body"])
    assert urls["relative"] == prefix + "/where"
    if origin:
        assert urls["external"] == origin + prefix + "/where"


@pytest.mark.parametrize("kind", ["rest_v1", "http_api_v2"])
def test_url_for_behind_a_custom_domain_with_a_base_path(
    probe: Flask, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(handler, "BASE_PATH", "/v1")
    request_ = HttpRequest("GET", "/v1/where")
    event = (
        rest_v1_event(request_, host="api.example.com")
        if kind == "rest_v1"
        else http_api_v2_event(request_, host="api.example.com")
    )
    result = answer(event)
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"]) == {
        "relative": "/v1/where",
        "external": "https://api.example.com/v1/where",
    }


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_repeated_response_headers_arrive_intact(probe: Flask, kind: EventKind) -> None:
    result = answer(build_event(kind, HttpRequest("GET", "/cookies"), base64_body=False))
    response = read_result(result, kind)  # rejects Set-Cookie outside `cookies` on v2
    assert response.header_values("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly; Path=/"]
    assert response.header("Link") == "</x>; rel=preload, </y>; rel=preload"
    if kind in ("http_api_v2", "function_url"):
        assert result["cookies"] == ["a=1; Path=/", "b=2; HttpOnly; Path=/"]


DESCRIBED_KINDS = ["alb", "alb_multi_value", "lattice_v1", "lattice_v2"]


@pytest.mark.parametrize("kind", DESCRIBED_KINDS)
def test_a_status_code_werkzeug_does_not_know_still_gets_a_description(
    probe: Flask, kind: EventKind
) -> None:
    # serverless-wsgi's own ALB code raises KeyError for it (a 502).
    result = answer(build_event(kind, HttpRequest("GET", "/status/599"), base64_body=False), kind)
    assert (result["statusCode"], result["statusDescription"]) == (599, "599 Server Error")


@pytest.mark.parametrize("kind", DESCRIBED_KINDS)
def test_remote_addr_is_the_peer_the_load_balancer_saw(probe: Flask, kind: EventKind) -> None:
    spoofed = HttpRequest("GET", "/echo", headers=(("X-Forwarded-For", "10.9.9.9, 198.51.100.4"),))
    result = answer(build_event(kind, spoofed, base64_body=False))
    assert json.loads(result["body"])["remote_addr"] == "198.51.100.4"


def test_repeated_request_headers_are_joined_not_dropped(probe: Flask) -> None:
    repeated = HttpRequest(
        "GET",
        "/echo",
        headers=(("Cookie", "a=1"), ("Cookie", "b=2"), ("X-Forwarded-For", "198.51.100.4")),
    )
    for kind in ("rest_v1", "alb_multi_value", "http_api_v2", "lattice_v1", "lattice_v2"):
        result = answer(build_event(kind, repeated, base64_body=False))
        echoed = json.loads(result["body"])
        assert echoed["cookie"] == "a=1; b=2", kind


# -- logs


def test_one_json_log_line_per_request_without_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    password = "pw-" + "s3cr3t-value"
    sign_up = HttpRequest(
        "POST",
        "/userSignUp",
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
        body=f"username=logcheck{id(capsys)}&password={password}".encode(),
    )
    context = LambdaContext()
    result = handler.handler(http_api_v2_event(sign_up), context)
    assert result["statusCode"] == 200
    captured = capsys.readouterr()
    # The request's log record, and its metrics line (app/metrics.py, tests/test_metrics.py).
    lines = [line for line in captured.out.strip().splitlines() if '"_aws"' not in line]
    assert len(lines) == 1
    record = json.loads(lines[0])
    # The Lambda runtime's JSON log shape (app/request_log.py) plus the request's metadata.
    assert record.keys() == {"timestamp", "level", "message", "logger", "requestId"} | {
        "method",
        "path",
        "status",
        "duration_ms",
    }
    assert record["method"] == "POST" and record["path"] == "/userSignUp"
    assert record["status"] == 200 and record["requestId"] == context.aws_request_id
    assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
    assert password not in captured.out + captured.err


def test_init_leaves_the_collector_on_with_the_init_objects_frozen() -> None:
    # handler.py turns collection off while it imports and builds the app; warm invocations
    # must run with it back on, or cycles made per request would pile up.
    import gc

    assert gc.isenabled()
    assert gc.get_freeze_count() > 10_000


@pytest.mark.parametrize(
    ("value", "message"),
    [("lots", "must be a whole number, got 'lots'"), ("0", "must be positive, got 0")],
)
def test_a_bad_number_in_the_environment_stops_the_app_with_its_name(
    value: str, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DB_BUSY_TIMEOUT_MS", value)
    with pytest.raises(ConfigurationError, match=f"DB_BUSY_TIMEOUT_MS {message}"):
        create_app({"USERS_DB": str(tmp_path / "users.sqlite3")})


def test_a_number_in_the_environment_is_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "250")
    app = create_app({"USERS_DB": str(tmp_path / "users.sqlite3")})
    assert app.config["MAX_CONTENT_LENGTH"] == 250
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    long_form = "username=sam&lastname=" + "k" * 300
    assert app.test_client().post("/userDetails", data=long_form, headers=form).status_code == 413


# -- sign-up only through its own (throttled) route, whatever the path's spelling

SIGN_UP_SPELLINGS = [
    "//userSignUp",
    "/user%53ignUp",
    "/%75serSignUp",
    "/%2FuserSignUp",
    "/./userSignUp",
]


def sign_up(path: str, username: str) -> HttpRequest:
    body = f"username={username}&firstname=john".encode()
    return HttpRequest(
        "POST", path, headers=(("Content-Type", "application/x-www-form-urlencoded"),), body=body
    )


@pytest.mark.parametrize("spelling", SIGN_UP_SPELLINGS)
@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_another_spelling_of_the_sign_up_path_is_refused_and_signs_no_one_up(
    kind: EventKind, spelling: str
) -> None:
    username = "u" + uuid.uuid4().hex[:12]
    event = build_event(kind, sign_up(spelling, username), base64_body=False)
    result = answer(event, kind)
    assert result["statusCode"] == 400
    detail = problem_of(result)["detail"]
    assert repr(spelling) in detail and "'/userSignUp'" in detail
    # Nothing was written: the name is still free on the route of its own.
    event = build_event(kind, sign_up("/userSignUp", username), base64_body=False)
    assert answer(event, kind)["statusCode"] == 200


def through_the_catch_all(kind: EventKind, username: str) -> dict[str, Any]:
    """The event API Gateway would build had it decoded the spelling before routing on the
    raw one: the canonical path, but the catch-all route."""
    event = build_event(kind, sign_up("/userSignUp", username), base64_body=False)
    if kind == "rest_v1":
        event["resource"] = event["requestContext"]["resourcePath"] = "/{proxy+}"
    else:
        event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    return event


@pytest.mark.parametrize("kind", ["rest_v1", "http_api_v2"])
def test_sign_up_through_the_catch_all_route_is_refused(kind: EventKind) -> None:
    result = answer(through_the_catch_all(kind, "u" + uuid.uuid4().hex[:12]), kind)
    assert result["statusCode"] == 400
    assert problem_of(result)["detail"].startswith("POST /userSignUp came through the catch-all")


def test_a_function_url_has_no_routes_to_come_through() -> None:
    event = through_the_catch_all("function_url", "u" + uuid.uuid4().hex[:12])
    assert answer(event, "function_url")["statusCode"] == 200


@pytest.mark.parametrize("path", ["/users/%C3%A9", "/a%25b", "/userSignUp/"])
def test_escapes_that_are_not_another_spelling_reach_the_app(path: str) -> None:
    result = answer(build_event("http_api_v2", get(path), base64_body=False), "http_api_v2")
    assert result["statusCode"] == 404


@pytest.mark.parametrize("stray", [{"x-note": ["a"]}, {}, None])
@pytest.mark.parametrize("kind", ["http_api_v2", "function_url"])
def test_a_v2_event_with_a_stray_multi_value_headers_key_keeps_its_headers(
    kind: EventKind, stray: Any
) -> None:
    event = build_event(kind, SEED_GET, base64_body=False) | {"multiValueHeaders": stray}
    result = answer(event, kind)
    assert "multiValueHeaders" not in result
    assert result["statusCode"] == 404
    assert problem_of(result)["detail"] == "No user named 'nobody'."
    assert result["headers"]["Content-Type"] == "application/problem+json"


# -- Strict-Transport-Security: in a Lambda runtime (every channel in AWS is HTTPS) only

HSTS = "Strict-Transport-Security"


@pytest.mark.parametrize(
    ("environ", "https_only"),
    [
        ({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, True),
        ({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "IS_OFFLINE": "true"}, True),
        ({"IS_OFFLINE": "true"}, False),  # make run: serverless-offline's plain HTTP
        ({"IS_LOCAL": "true"}, False),
        ({}, False),  # the dev server, the tests
    ],
)
def test_https_only_follows_the_runtime(
    environ: dict[str, str], https_only: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_LAMBDA_RUNTIME_API", "IS_OFFLINE", "IS_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    app = create_app({"USERS_DB": str(tmp_path / "users.sqlite3")})
    assert app.config["HTTPS_ONLY"] is https_only
    response = app.test_client().get("/")
    assert (response.headers.get(HSTS) == STRICT_TRANSPORT_SECURITY[HSTS]) is https_only


@pytest.fixture
def in_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """handler.py as a Lambda runtime in AWS builds it: its app and its own answers."""
    app = create_app({"USERS_DB": str(tmp_path / "users.sqlite3"), "HTTPS_ONLY": True})
    monkeypatch.setattr(handler, "app", app)
    monkeypatch.setattr(handler, "EDGE_ANSWER_HEADERS", header_policy(app).edge_answer())


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_hsts_on_every_answer_in_aws_the_apps_and_the_edges(kind: EventKind, in_aws: None) -> None:
    served = read_result(answer(build_event(kind, SEED_GET, base64_body=False), kind), kind)
    assert served.status == 404 and served.header(HSTS) == STRICT_TRANSPORT_SECURITY[HSTS]
    refused_event = build_event(kind, HttpRequest("GET", "//userDetails"), base64_body=False)
    refused = read_result(answer(refused_event, kind), kind)
    assert refused.status == 400 and refused.header(HSTS) == STRICT_TRANSPORT_SECURITY[HSTS]


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_no_hsts_outside_a_lambda_runtime(kind: EventKind) -> None:
    served = read_result(answer(build_event(kind, SEED_GET, base64_body=False), kind), kind)
    refused_event = build_event(kind, HttpRequest("GET", "//userDetails"), base64_body=False)
    refused = read_result(answer(refused_event, kind), kind)
    assert served.header(HSTS) is None and refused.header(HSTS) is None


def test_a_named_stage_without_a_host_header_is_served_on_the_domain_it_came_to() -> None:
    event = http_api_v2_event(SEED_GET, stage="dev")
    event["headers"] = {k: v for k, v in event["headers"].items() if k != "host"}
    assert event["rawPath"] == "/dev/userDetails"
    result = answer(event, "http_api_v2")
    assert result["statusCode"] == 404
    assert problem_of(result)["detail"] == "No user named 'nobody'."  # the app's, not the path's
