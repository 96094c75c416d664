"""lambda_edge on its own: tables of events and results, no app, no Flask, milliseconds.

Each table row is one rule of one event kind: how it is recognised, what is refused
(and the detail naming the field at fault), what reaches serverless-wsgi (method, path,
headers, query, body, SCRIPT_NAME/PATH_INFO), and how an answer is shaped back.
"""

from __future__ import annotations

import base64
import sys
from typing import Any

import pytest

from lambda_edge import (
    EVENT_KINDS,
    KINDS,
    EventKind,
    RejectedEvent,
    classify,
    is_warmup,
    plain_result,
)
from lambda_edge.events import other_service
from lambda_edge.fields import canonical_spelling
from lambda_edge.header_policy import AppAnswer, HeaderPolicy, vary_of
from tests.events import (
    ALB_HOST,
    assert_real_shape,
    build_event,
    http_api_v2_event,
    lattice_v2_event,
    read_result,
    rest_v1_event,
    sns_event,
    sqs_event,
)
from tests.http_types import HttpRequest

GET = HttpRequest("GET", "/userDetails", query=(("username", "sam"),))
POST = HttpRequest(
    "POST",
    "/userDetails",
    headers=(("Content-Type", "application/x-www-form-urlencoded"),),
    body=b"username=sam&lastname=king",
)


def event_of(kind: EventKind, request: HttpRequest = GET, **changes: Any) -> dict[str, Any]:
    return build_event(kind, request, base64_body=False) | changes


def without(event: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in keys}


@pytest.mark.slow
def test_the_edge_imports_no_flask_and_builds_no_app() -> None:
    import subprocess

    probe = "import sys, lambda_edge; sys.exit('flask' in sys.modules or 'app' in sys.modules)"
    subprocess.run([sys.executable, "-c", probe], check=True)


# ---------------------------------------------------------------- recognising the kind


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_every_real_event_is_recognised_as_its_kind(kind: EventKind) -> None:
    event = event_of(kind)
    assert_real_shape(kind, event)
    assert classify(event).name == kind


def test_lattice_v2_with_string_values_is_still_lattice_v2() -> None:
    assert classify(lattice_v2_event(GET, list_values=False)).name == "lattice_v2"


NOT_HTTP: dict[str, tuple[Any, str]] = {
    "empty object": ({}, "Not an HTTP event"),
    "records of no source": ({"Records": [{"body": "x"}]}, "Not an HTTP event"),
    "list": ([1, 2], "Expected an HTTP event object, got list."),
    "null": (None, "Expected an HTTP event object, got NoneType."),
}


@pytest.mark.parametrize(("event", "detail"), NOT_HTTP.values(), ids=NOT_HTTP.keys())
def test_events_of_no_http_kind_are_refused(event: Any, detail: str) -> None:
    with pytest.raises(RejectedEvent) as refused:
        classify(event)
    assert refused.value.detail.startswith(detail)


OTHER_SERVICES: dict[str, tuple[Any, str | None]] = {
    "SQS": (sqs_event(), "1 record(s) from aws:sqs"),
    "SNS (EventSource)": (sns_event(), "1 record(s) from aws:sns"),
    "CloudWatch Logs": ({"awslogs": {"data": "H4sI"}}, "a CloudWatch Logs subscription event"),
    "CloudFormation": (
        {"RequestType": "Create", "ResponseURL": "https://x.invalid/", "StackId": "s"},
        "a CloudFormation custom resource request",
    ),
    "HTTP API event": (event_of("http_api_v2"), None),
    "empty Records": ({"Records": []}, None),
    "records of no source": ({"Records": [{"body": "x"}]}, None),
    "not an object": ([1], None),
}


@pytest.mark.parametrize(("event", "arrived"), OTHER_SERVICES.values(), ids=OTHER_SERVICES.keys())
def test_other_service_names_what_arrived(event: Any, arrived: str | None) -> None:
    assert other_service(event) == arrived


WARMUPS: dict[str, tuple[Any, bool]] = {
    "serverless-plugin-warmup": ({"source": "serverless-plugin-warmup"}, True),
    "scheduled EventBridge": ({"source": "aws.events", "detail-type": "Scheduled Event"}, True),
    "other EventBridge": ({"source": "aws.events", "detail-type": "EC2 State Change"}, False),
    "a source that is not a string": ({"source": []}, False),
    "an HTTP event": (event_of("rest_v1"), False),
    "not an object": ("serverless-plugin-warmup", False),
}


@pytest.mark.parametrize(("event", "warmup"), WARMUPS.values(), ids=WARMUPS.keys())
def test_warmup_pings_are_recognised(event: Any, warmup: bool) -> None:
    assert is_warmup(event) is warmup


# ---------------------------------------------------------------- refusing what HTTP does not allow

REFUSED: dict[str, tuple[EventKind, dict[str, Any], str]] = {
    "REST: CR LF in a header value": (
        "rest_v1",
        event_of("rest_v1", headers=None, multiValueHeaders={"X-Note": ["a\r\nSet-Cookie: x=1"]}),
        "'multiValueHeaders' value for 'X-Note' contains CR, LF or NUL.",
    ),
    "REST: NUL in a header value": (
        "rest_v1",
        event_of("rest_v1", headers={"X-Note": "a\x00b"}, multiValueHeaders=None),
        "'headers' value for 'X-Note' contains CR, LF or NUL.",
    ),
    "REST: a header name that is not a token": (
        "rest_v1",
        event_of("rest_v1", headers={"X Note": "a"}, multiValueHeaders=None),
        "'headers' has a name that is not an HTTP token: 'X Note'.",
    ),
    "REST: LF in a query value": (
        "rest_v1",
        event_of("rest_v1", multiValueQueryStringParameters={"username": ["a\nb"]}),
        "'multiValueQueryStringParameters' value for 'username' contains CR, LF or NUL.",
    ),
    "REST: no path": (
        "rest_v1",
        without(event_of("rest_v1"), "path"),
        "'path' must be a string of valid Unicode starting with '/'.",
    ),
    "REST: a path not starting with /": (
        "rest_v1",
        event_of("rest_v1", path="userDetails"),
        "'path' must be a string of valid Unicode starting with '/'.",
    ),
    "REST: a numeric httpMethod": (
        "rest_v1",
        event_of("rest_v1", httpMethod=7),
        "'httpMethod' must be an HTTP method name.",
    ),
    "REST: a method that is not a token": (
        "rest_v1",
        event_of("rest_v1", httpMethod="GET /x"),
        "'httpMethod' must be an HTTP method name.",
    ),
    "REST: null requestContext": (
        "rest_v1",
        event_of("rest_v1", requestContext=None),
        "'requestContext' must be an object.",
    ),
    "REST: a list body": (
        "rest_v1",
        event_of("rest_v1", body=["a"]),
        "'body' must be a string or null.",
    ),
    "REST: invalid base64": (
        "rest_v1",
        event_of("rest_v1", body="not base64!", isBase64Encoded=True),
        "'body' is marked isBase64Encoded but is not valid base64.",
    ),
    "REST: isBase64Encoded not a boolean": (
        "rest_v1",
        event_of("rest_v1", isBase64Encoded="yes"),
        "'isBase64Encoded' must be a boolean.",
    ),
    "REST: a numeric header value": (
        "rest_v1",
        event_of("rest_v1", headers={"Host": 5}, multiValueHeaders=None),
        "'headers' must map strings to strings.",
    ),
    "REST: a lone surrogate in the path": (
        "rest_v1",
        event_of("rest_v1", path="/userDetails\ud800"),
        "'path' must be a string of valid Unicode starting with '/'.",
    ),
    "REST: a lone surrogate in a query value": (
        "rest_v1",
        event_of("rest_v1", multiValueQueryStringParameters={"x": ["\ud800"]}),
        "'multiValueQueryStringParameters' must map strings to lists of strings.",
    ),
    "HTTP API: LF in a header value": (
        "http_api_v2",
        event_of("http_api_v2", headers={"host": "x", "x-note": "a\nb"}),
        "'headers' value for 'x-note' contains CR, LF or NUL.",
    ),
    "HTTP API: CR in a cookie": (
        "http_api_v2",
        event_of("http_api_v2", cookies=["a=b\r"]),
        "'cookies' must be a list of strings without CR, LF or NUL.",
    ),
    "HTTP API: cookies that are not strings": (
        "http_api_v2",
        event_of("http_api_v2", cookies=[1]),
        "'cookies' must be a list of strings without CR, LF or NUL.",
    ),
    "HTTP API: NUL in rawQueryString": (
        "http_api_v2",
        event_of("http_api_v2", rawQueryString="username=a\x00"),
        "'rawQueryString' contains CR, LF or NUL.",
    ),
    "HTTP API: a lone surrogate in rawPath": (
        "http_api_v2",
        event_of("http_api_v2", rawPath="/userDetails\udfff"),
        "'rawPath' must be a string of valid Unicode starting with '/'.",
    ),
    "HTTP API: a lone surrogate in a header": (
        "http_api_v2",
        event_of("http_api_v2", headers={"host": "x", "x-note": "\ud800"}),
        "'headers' must map strings to strings.",
    ),
    "HTTP API: no rawPath": (
        "http_api_v2",
        without(event_of("http_api_v2"), "rawPath"),
        "'rawPath' must be a string of valid Unicode starting with '/'.",
    ),
    "HTTP API: no headers": (
        "http_api_v2",
        without(event_of("http_api_v2"), "headers"),
        "The event has no 'headers'.",
    ),
    "HTTP API: no requestContext.http": (
        "http_api_v2",
        event_of("http_api_v2", requestContext={"stage": "$default"}),
        "'requestContext.http' must be an object.",
    ),
    "function URL: a method that is not a token": (
        "function_url",
        event_of("function_url")
        | {"requestContext": event_of("function_url")["requestContext"] | {"http": {"method": ""}}},
        "'requestContext.http.method' must be an HTTP method name.",
    ),
    "ALB: CR in a header value": (
        "alb",
        event_of("alb", headers={"host": ALB_HOST, "x-note": "a\rb"}),
        "'headers' value for 'x-note' contains CR, LF or NUL.",
    ),
    "ALB: a query value that is a list": (
        "alb",
        event_of("alb", queryStringParameters={"username": ["a"]}),
        "'queryStringParameters' must map strings to strings.",
    ),
    "ALB multi-value: a header value that is a string": (
        "alb_multi_value",
        event_of("alb_multi_value", multiValueHeaders={"host": ALB_HOST}),
        "'multiValueHeaders' must map strings to lists of strings.",
    ),
    "Lattice v1: no raw_path": (
        "lattice_v1",
        without(event_of("lattice_v1"), "raw_path"),
        "'raw_path' must be a string of valid Unicode starting with '/'.",
    ),
    "Lattice v1: a header name that is not a token": (
        "lattice_v1",
        event_of("lattice_v1", headers={"x note": "a"}),
        "'headers' has a name that is not an HTTP token: 'x note'.",
    ),
    "Lattice v1: is_base64_encoded and bad base64": (
        "lattice_v1",
        event_of("lattice_v1", body="%%%", is_base64_encoded=True),
        "'body' is marked is_base64_encoded but is not valid base64.",
    ),
    "Lattice v2: LF in a listed header value": (
        "lattice_v2",
        event_of("lattice_v2", headers={"host": ["x"], "x-note": ["ok", "a\nb"]}),
        "'headers' value for 'x-note' contains CR, LF or NUL.",
    ),
    "Lattice v2: NUL in a query value": (
        "lattice_v2",
        event_of("lattice_v2", queryStringParameters={"username": ["a\x00"]}),
        "'queryStringParameters' value for 'username' contains CR, LF or NUL.",
    ),
    "Lattice v2: a numeric query value": (
        "lattice_v2",
        event_of("lattice_v2", queryStringParameters={"username": [1]}),
        "'queryStringParameters' must map strings to strings or lists of strings.",
    ),
    "Lattice v2: no method": (
        "lattice_v2",
        without(event_of("lattice_v2"), "method"),
        "'method' must be an HTTP method name.",
    ),
    "Lattice v2: requestContext not an object": (
        "lattice_v2",
        event_of("lattice_v2", requestContext="x"),
        "'requestContext' must be an object.",
    ),
}


@pytest.mark.parametrize(("kind", "event", "detail"), REFUSED.values(), ids=REFUSED.keys())
def test_what_http_does_not_allow_is_refused_naming_the_field(
    kind: EventKind, event: dict[str, Any], detail: str
) -> None:
    unit = classify(event)
    assert unit.name == kind  # a damaged event keeps its kind, and so its response shape
    with pytest.raises(RejectedEvent) as refused:
        unit.read(event, "/")
    assert refused.value.detail == detail


# ---------------------------------------------------------------- what reaches serverless-wsgi


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_the_request_reaches_serverless_wsgi_intact(kind: EventKind) -> None:
    request = HttpRequest(
        "POST",
        "/user%20Details",
        query=(("username", "sam smith"), ("tag", "a"), ("tag", "b")),
        headers=(
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
        ),
        body=b"username=sam&lastname=king",
    )
    read = KINDS[kind].read(build_event(kind, request, base64_body=True), "/")
    event = read.wsgi_event
    assert read.path_info == "/user Details"
    assert read.script_name == ("/prod" if kind == "rest_v1" else "")  # on its execute-api host
    assert event["isBase64Encoded"] is False and event["body"] == request.body
    assert "source" not in event
    if kind in ("http_api_v2", "function_url"):
        assert event["requestContext"]["http"]["method"] == "POST"
        assert event["rawQueryString"] == "username=sam%20smith&tag=a&tag=b"
        assert event["cookies"] == ["a=1", "b=2"]
        return
    assert event["httpMethod"] == "POST"
    headers = {k.lower(): v for k, v in event["headers"].items()}
    # Joined, not the last one only, where the event carries both.
    assert headers["cookie"] == ("b=2" if kind == "alb" else "a=1; b=2")
    query = event["multiValueQueryStringParameters"] or {
        k: [v] for k, v in event["queryStringParameters"].items()
    }
    expected = {"username": ["sam smith"], "tag": ["a", "b"]}
    if kind in ("rest_v1", "alb_multi_value", "lattice_v2"):
        assert query == expected  # decoded, every value
    else:
        assert query == expected | {"tag": ["b"]}  # single-value shapes carry the last
    assert ("multiValueHeaders" in event) == (kind in ("rest_v1", "alb_multi_value"))


@pytest.mark.parametrize("kind", ["rest_v1", "alb"])
def test_null_or_absent_headers_are_a_request_without_headers(kind: EventKind) -> None:
    for event in (
        event_of(kind, headers=None, multiValueHeaders=None),
        without(event_of(kind), "headers", "multiValueHeaders"),
    ):
        read = KINDS[kind].read(event, "/")
        assert read.wsgi_event["headers"] == {}
        assert read.path_info == "/userDetails"


def test_lattice_accepts_values_as_strings_and_as_lists() -> None:
    request = HttpRequest("GET", "/userDetails", query=(("username", "sam"),))
    as_lists = KINDS["lattice_v2"].read(lattice_v2_event(request), "/").wsgi_event
    as_strings = KINDS["lattice_v2"].read(lattice_v2_event(request, list_values=False), "/")
    assert as_strings.wsgi_event["headers"] == as_lists["headers"]
    assert as_strings.wsgi_event["multiValueQueryStringParameters"] == {"username": ["sam"]}
    assert as_lists["multiValueQueryStringParameters"] == {"username": ["sam"]}


def test_lattice_path_sheds_a_query_string_riding_on_it() -> None:
    event = event_of("lattice_v1", raw_path="/userDetails?username=sam")
    assert KINDS["lattice_v1"].read(event, "/").path_info == "/userDetails"


def test_alb_and_lattice_client_address_is_the_last_forwarded_for_entry() -> None:
    spoofed = HttpRequest("GET", "/", headers=(("X-Forwarded-For", "10.9.9.9, 198.51.100.4"),))
    for kind in ("alb", "alb_multi_value", "lattice_v1", "lattice_v2"):
        event = build_event(kind, spoofed, base64_body=False)
        context = KINDS[kind].read(event, "/").wsgi_event["requestContext"]
        assert context["identity"] == {"sourceIp": "198.51.100.4"}, kind
        assert "elb" not in context  # or serverless-wsgi would add a KeyError-prone description


WHERE = HttpRequest("GET", "/where")
MOUNTS: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "HTTP API $default stage": (http_api_v2_event(WHERE), "/", "", "/where"),
    "HTTP API named stage": (http_api_v2_event(WHERE, stage="prod"), "/", "/prod", "/where"),
    "HTTP API named stage on a custom domain": (
        http_api_v2_event(WHERE, stage="prod", host="api.example.com"),
        "/",
        "",
        "/prod/where",
    ),
    "REST named stage": (rest_v1_event(WHERE, stage="prod"), "/", "/prod", "/where"),
    "REST behind a base path": (
        rest_v1_event(HttpRequest("GET", "/v1/where"), host="api.example.com"),
        "/v1",
        "/v1",
        "/where",
    ),
    "HTTP API behind a base path": (
        http_api_v2_event(HttpRequest("GET", "/v1/where"), host="api.example.com"),
        "/v1",
        "/v1",
        "/where",
    ),
    "a base path only as a whole segment": (
        rest_v1_event(HttpRequest("GET", "/v1where"), host="api.example.com"),
        "/v1",
        "",
        "/v1where",
    ),
    "function URL ignores the base path": (
        event_of("function_url", HttpRequest("GET", "/v1/where")),
        "/v1",
        "",
        "/v1/where",
    ),
    "ALB ignores the base path": (
        event_of("alb", HttpRequest("GET", "/v1/where")),
        "/v1",
        "",
        "/v1/where",
    ),
    "Lattice ignores the base path": (
        event_of("lattice_v2", HttpRequest("GET", "/v1/where")),
        "/v1",
        "",
        "/v1/where",
    ),
}


@pytest.mark.parametrize(
    ("event", "base_path", "script_name", "path_info"), MOUNTS.values(), ids=MOUNTS.keys()
)
def test_where_the_app_is_mounted(
    event: dict[str, Any], base_path: str, script_name: str, path_info: str
) -> None:
    read = classify(event).read(event, base_path)
    assert (read.script_name, read.path_info) == (script_name, path_info)


# ---------------------------------------------------------------- shaping the answer

REPEATED = {  # what serverless-wsgi returns for two cookies and two Link headers
    "statusCode": 200,
    "headers": {
        "Content-Type": "text/html; charset=utf-8",
        "Set-Cookie": "a=1; Path=/",
        "set-Cookie": "b=2; HttpOnly; Path=/",
        "Link": "</x>; rel=preload",
        "link": "</y>; rel=preload",
    },
    "body": "baked",
    "isBase64Encoded": False,
}


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_repeated_response_headers_come_through_in_each_channel_shape(kind: EventKind) -> None:
    result = KINDS[kind].respond(dict(REPEATED) | {"headers": dict(REPEATED["headers"])})
    response = read_result(result, kind)
    assert response.header_values("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly; Path=/"]
    assert response.header("Link") == "</x>; rel=preload, </y>; rel=preload"
    if kind in ("http_api_v2", "function_url"):
        assert result["cookies"] == ["a=1; Path=/", "b=2; HttpOnly; Path=/"]
        assert result["headers"]["Link"] == "</x>; rel=preload, </y>; rel=preload"
    if kind in ("rest_v1", "alb_multi_value"):
        assert result["multiValueHeaders"]["Set-Cookie"] == [
            "a=1; Path=/",
            "b=2; HttpOnly; Path=/",
        ]


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_an_empty_answer_is_completed(kind: EventKind) -> None:
    # serverless-wsgi leaves out body and isBase64Encoded when the body is empty.
    result = KINDS[kind].respond({"statusCode": 204, "headers": {}})
    assert read_result(result, kind).body == b""


@pytest.mark.parametrize(
    ("code", "description"),
    [
        (200, "200 OK"),
        (299, "299 Success"),
        (308, "308 Permanent Redirect"),
        (399, "399 Redirection"),
        (418, "418 I'm a Teapot"),
        (451, "451 Unavailable For Legal Reasons"),
        (499, "499 Client Error"),
        (509, "509 Server Error"),
        (599, "599 Server Error"),
    ],
)
@pytest.mark.parametrize("kind", ["alb", "alb_multi_value", "lattice_v1", "lattice_v2"])
def test_status_description_for_every_code(kind: EventKind, code: int, description: str) -> None:
    # Unknown codes fall back to their class (RFC 9110 15), never to another class's name.
    result = KINDS[kind].respond({"statusCode": code, "headers": {}})
    assert result["statusDescription"] == description


@pytest.mark.parametrize("https_only", [True, False], ids=["in-aws", "local"])
@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_a_problem_built_without_the_app_has_the_channel_shape(
    kind: EventKind, https_only: bool
) -> None:
    body = '{"status": 400}'
    headers = HeaderPolicy(https_only=https_only).edge_answer()
    response = read_result(
        KINDS[kind].respond(plain_result(400, "application/problem+json", body, headers)), kind
    )
    assert response.status == 400 and response.body == body.encode()
    assert response.header("Content-Type") == "application/problem+json"
    for name, value in headers.items():
        assert response.header(name) == value, name


# -- the header policy (lambda_edge/header_policy.py) ------------------------------------

IN_AWS, LOCAL = HeaderPolicy(https_only=True), HeaderPolicy(https_only=False)
HSTS = "Strict-Transport-Security"


def app_answer(method: str, path: str, status: int, routed: bool = True) -> AppAnswer:
    return AppAnswer(method=method, path=path, status=status, routed=routed)


@pytest.mark.parametrize(
    "answer",
    [
        app_answer("GET", "/", 200),
        app_answer("POST", "/userSignUp", 400),
        app_answer("GET", "/nowhere", 404, routed=False),
        app_answer("OPTIONS", "/userDetails", 204),
    ],
)
def test_hsts_and_nosniff_on_every_answer_in_aws_and_no_hsts_locally(answer: AppAnswer) -> None:
    assert IN_AWS.app_answer(answer)[HSTS] == "max-age=31536000"
    assert IN_AWS.app_answer(answer)["X-Content-Type-Options"] == "nosniff"
    assert HSTS not in LOCAL.app_answer(answer)
    assert LOCAL.app_answer(answer)["X-Content-Type-Options"] == "nosniff"
    assert IN_AWS.edge_answer()[HSTS] == "max-age=31536000" and HSTS not in LOCAL.edge_answer()


@pytest.mark.parametrize(
    ("answer", "cors", "no_store", "vary"),
    [
        (app_answer("POST", "/userSignUp", 200), True, False, {"Accept"}),
        (app_answer("POST", "/userDetails", 400), True, False, set()),
        (app_answer("GET", "/userDetails", 200), True, True, set()),
        (app_answer("HEAD", "/userDetails", 200), True, True, set()),
        (app_answer("POST", "/userDetails", 401), True, True, set()),
        (app_answer("GET", "/openapi.json", 200), True, False, set()),
        (app_answer("GET", "/", 200), False, False, set()),
        (app_answer("POST", "/", 429), False, True, set()),
        (app_answer("POST", "/nowhere", 201, routed=False), False, False, set()),
    ],
)
def test_app_answer_headers(answer: AppAnswer, cors: bool, no_store: bool, vary: set[str]) -> None:
    headers = LOCAL.app_answer(answer)
    assert (headers.get("Access-Control-Allow-Origin") == "*") is cors
    assert (headers.get("Cache-Control") == "no-store") is no_store
    assert vary_of(answer) == vary


def test_base64_answers_pass_through() -> None:
    encoded = base64.b64encode(b"\x89PNG").decode()
    result = KINDS["lattice_v2"].respond(
        {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png"},
            "body": encoded,
            "isBase64Encoded": True,
        }
    )
    assert read_result(result, "lattice_v2").body == b"\x89PNG"


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/userSignUp", "/userSignUp"),
        ("//userSignUp", "/userSignUp"),
        ("/user%53ignUp", "/userSignUp"),
        ("/%75serSignUp", "/userSignUp"),
        ("/%2fuserSignUp", "/userSignUp"),
        ("/a/./b/../userSignUp", "/a/userSignUp"),
        ("/%2e%2e/userSignUp", "/userSignUp"),
        ("/users/%C3%A9", "/users/%C3%A9"),  # an escape of what is not another spelling stays
        ("/a%25b", "/a%25b"),
        ("/userSignUp/", "/userSignUp/"),
        ("/", "/"),
    ],
)
def test_canonical_spelling(path: str, canonical: str) -> None:
    assert canonical_spelling(path) == canonical
