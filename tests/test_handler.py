"""handler.py beyond the contract table: the guard, mounts, cookies, ALB details, logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask, make_response, request, url_for

import handler
from app import create_app
from tests.channels import LambdaContext
from tests.events import (
    EVENT_KINDS,
    HTTP_API_HOST,
    build_event,
    http_api_v2_event,
    read_result,
    rest_v1_event,
)
from tests.http_types import HttpRequest


def assert_well_formed(result: Any) -> None:
    """What API Gateway, ALB and function URLs accept; anything else becomes a 502."""
    assert isinstance(result, dict)
    assert type(result["statusCode"]) is int and 100 <= result["statusCode"] <= 599
    assert isinstance(result["body"], str)
    assert isinstance(result["isBase64Encoded"], bool)
    assert ("headers" in result) != ("multiValueHeaders" in result), result
    for name, value in result.get("headers", {}).items():
        assert isinstance(name, str) and isinstance(value, str)
    for name, values in result.get("multiValueHeaders", {}).items():
        assert isinstance(name, str) and all(isinstance(v, str) for v in values)
    assert all(isinstance(c, str) for c in result.get("cookies", []))
    if "statusDescription" in result:
        assert result["statusDescription"].startswith(f"{result['statusCode']} ")


def problem_of(result: dict[str, Any]) -> dict[str, Any]:
    headers = result.get("headers") or {
        k: v[0] for k, v in result.get("multiValueHeaders", {}).items()
    }
    assert headers["Content-Type"] == "application/problem+json"
    assert result["isBase64Encoded"] is False
    return json.loads(result["body"])


SEED_GET = HttpRequest("GET", "/userDetails", query=(("username", "nobody"),))


def rest_event(**changes: Any) -> dict[str, Any]:
    return rest_v1_event(SEED_GET) | changes


def v2_event(**changes: Any) -> dict[str, Any]:
    return http_api_v2_event(SEED_GET) | changes


def without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


# -- the guard: serverless-wsgi 3.1.0's crash inputs, and other malformed events


MALFORMED = {
    "REST with CR LF in a header value": (
        rest_event(headers=None, multiValueHeaders={"X-Note": ["a\r\nSet-Cookie: x=1"]}),
        "'multiValueHeaders' value for 'X-Note' contains CR, LF or NUL.",
    ),
    "REST with NUL in a header value": (
        rest_event(headers={"X-Note": "a\x00b"}, multiValueHeaders=None),
        "'headers' value for 'X-Note' contains CR, LF or NUL.",
    ),
    "REST with a header name that is not a token": (
        rest_event(headers={"X Note": "a"}, multiValueHeaders=None),
        "'headers' has a name that is not an HTTP token: 'X Note'.",
    ),
    "REST with LF in a query value": (
        rest_event(multiValueQueryStringParameters={"username": ["a\nb"]}),
        "'multiValueQueryStringParameters' value for 'username' contains CR, LF or NUL.",
    ),
    "v2 with LF in a header value": (
        v2_event(headers={"host": "x", "x-note": "a\nb"}),
        "'headers' value for 'x-note' contains CR, LF or NUL.",
    ),
    "v2 with CR in a cookie": (
        v2_event(cookies=["a=b\r"]),
        "'cookies' must be a list of strings without CR, LF or NUL.",
    ),
    "v2 with NUL in rawQueryString": (
        v2_event(rawQueryString="username=a\x00"),
        "'rawQueryString' contains CR, LF or NUL.",
    ),
    "REST without path": (
        without(rest_event(), "path"),
        "'path' must be a string of valid Unicode starting with '/'.",
    ),
    "REST with a numeric httpMethod": (
        rest_event(httpMethod=7),
        "'httpMethod' must be an HTTP method name.",
    ),
    "REST with null requestContext": (
        rest_event(requestContext=None),
        "'requestContext' must be an object.",
    ),
    "REST with a list body": (rest_event(body=["a"]), "'body' must be a string or null."),
    "REST with invalid base64": (
        rest_event(body="not base64!", isBase64Encoded=True),
        "'body' is marked isBase64Encoded but is not valid base64.",
    ),
    "REST with a numeric header value": (
        rest_event(headers={"Host": 5}, multiValueHeaders=None),
        "'headers' must map strings to strings.",
    ),
    "REST with a lone surrogate in the path": (
        rest_event(path="/userDetails\ud800"),
        "'path' must be a string of valid Unicode starting with '/'.",
    ),
    "REST with a lone surrogate in a query value": (
        rest_event(multiValueQueryStringParameters={"x": ["\ud800"]}),
        "'multiValueQueryStringParameters' must map strings to lists of strings.",
    ),
    "v2 with a lone surrogate in rawPath": (
        v2_event(rawPath="/userDetails\udfff"),
        "'rawPath' must be a string of valid Unicode starting with '/'.",
    ),
    "v2 with a lone surrogate in a header": (
        v2_event(headers={"host": "x", "x-note": "\ud800"}),
        "'headers' must map strings to strings.",
    ),
    "v2 without rawPath": (
        without(v2_event(), "rawPath"),
        "'rawPath' must be a string of valid Unicode starting with '/'.",
    ),
    "v2 without headers": (without(v2_event(), "headers"), "The event has no 'headers'."),
    "v2 with cookies that are not strings": (
        v2_event(cookies=[1]),
        "'cookies' must be a list of strings without CR, LF or NUL.",
    ),
    "v2 without requestContext.http": (
        v2_event(requestContext={"stage": "$default"}),
        "'requestContext.http' must be an object.",
    ),
}


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
    result = handler.handler(event, LambdaContext())
    assert_well_formed(result)
    assert result["statusCode"] == 404
    assert problem_of(result)["detail"] == "No user named 'nobody'."


@pytest.mark.parametrize(("event", "detail"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_http_event_gets_a_400_problem(event: dict[str, Any], detail: str) -> None:
    result = handler.handler(event, LambdaContext())
    assert_well_formed(result)
    assert result["statusCode"] == 400
    assert problem_of(result) == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": detail,
    }


NOT_HTTP = {
    "empty object": {},
    "SQS batch": {"Records": [{"eventSource": "aws:sqs", "body": "hello"}]},
    "S3 notification": {"Records": [{"eventSource": "aws:s3", "s3": {}}]},
    "EventBridge, not scheduled": {"source": "aws.ec2", "detail-type": "EC2 State Change"},
    "list": [1, 2],
    "string": "garbage",
    "null": None,
    "number": 42,
}


@pytest.mark.parametrize("event", NOT_HTTP.values(), ids=NOT_HTTP.keys())
def test_non_http_event_is_a_logged_400(event: Any, capsys: pytest.CaptureFixture[str]) -> None:
    context = LambdaContext()
    result = handler.handler(event, context)
    assert_well_formed(result)
    assert result["statusCode"] == 400
    assert problem_of(result)["detail"].startswith(("Not an HTTP event", "Expected an HTTP event"))
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log["message"] == "rejected event"
    assert log["aws_request_id"] == context.aws_request_id


def test_null_authorizer_and_null_base64_body_are_served() -> None:
    """Both crash serverless-wsgi; neither is the client's fault, so serve normally."""
    event = v2_event(isBase64Encoded=True)
    event["requestContext"]["authorizer"] = None
    result = handler.handler(event, LambdaContext())
    assert_well_formed(result)
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
    result = handler.handler(event, LambdaContext())
    assert_well_formed(result)
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
    assert_well_formed(result)
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
    assert_well_formed(result)
    assert result["statusCode"] == 500
    assert problem_of(result)["request_id"] == context.aws_request_id
    assert "internal detail" not in result["body"]
    assert "internal detail" in caplog.text  # the traceback, in the logs only
    assert context.aws_request_id in caplog.text


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_a_chunked_request_body_is_still_read(kind: str) -> None:
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
    response = read_result(
        kind, handler.handler(build_event(kind, chunked, base64_body=False), LambdaContext())
    )
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


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result = handler.handler(event, LambdaContext())
    assert_well_formed(result)
    return result


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
}


@pytest.mark.parametrize(("event", "prefix", "origin"), MOUNTS.values(), ids=MOUNTS.keys())
def test_url_for_matches_the_url_the_client_used(
    probe: Flask, event: dict[str, Any], prefix: str, origin: str | None
) -> None:
    result = invoke(event)
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
    result = invoke(event)
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"]) == {
        "relative": "/v1/where",
        "external": "https://api.example.com/v1/where",
    }


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_repeated_response_headers_arrive_intact(probe: Flask, kind: str) -> None:
    result = invoke(build_event(kind, HttpRequest("GET", "/cookies"), base64_body=False))
    response = read_result(kind, result)  # rejects Set-Cookie outside `cookies` on v2
    assert response.header_values("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly; Path=/"]
    assert response.header("Link") == "</x>; rel=preload, </y>; rel=preload"
    if kind in ("http_api_v2", "function_url"):
        assert result["cookies"] == ["a=1; Path=/", "b=2; HttpOnly; Path=/"]


@pytest.mark.parametrize("code", [200, 299, 418, 451, 499, 509, 599])
@pytest.mark.parametrize("kind", ["alb", "alb_multi_value"])
def test_alb_status_description_for_every_code(probe: Flask, kind: str, code: int) -> None:
    result = invoke(build_event(kind, HttpRequest("GET", f"/status/{code}"), base64_body=False))
    assert result["statusCode"] == code
    assert result["statusDescription"].startswith(f"{code} ")
    assert len(result["statusDescription"]) > len(f"{code} ")


@pytest.mark.parametrize("kind", ["alb", "alb_multi_value"])
def test_alb_remote_addr_is_the_peer_alb_saw(probe: Flask, kind: str) -> None:
    spoofed = HttpRequest("GET", "/echo", headers=(("X-Forwarded-For", "10.9.9.9, 198.51.100.4"),))
    result = invoke(build_event(kind, spoofed, base64_body=False))
    assert json.loads(result["body"])["remote_addr"] == "198.51.100.4"


def test_repeated_request_headers_are_joined_not_dropped(probe: Flask) -> None:
    repeated = HttpRequest(
        "GET",
        "/echo",
        headers=(("Cookie", "a=1"), ("Cookie", "b=2"), ("X-Forwarded-For", "198.51.100.4")),
    )
    for kind in ("rest_v1", "alb_multi_value", "http_api_v2"):
        result = invoke(build_event(kind, repeated, base64_body=False))
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
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record.keys() == {"method", "path", "status", "duration_ms", "aws_request_id"}
    assert record["method"] == "POST" and record["path"] == "/userSignUp"
    assert record["status"] == 200 and record["aws_request_id"] == context.aws_request_id
    assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
    assert password not in captured.out + captured.err
