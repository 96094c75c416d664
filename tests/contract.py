"""The request/response contract: one table, run through every channel.

A case is a request (plus any setup requests it depends on) and the status, body
and headers the client must get back. ``{user}`` in a case stands for a username
unique to one run, so cases are independent of order and of each other, and every
channel can share one store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from http import HTTPStatus
from typing import Any

from tests.http_types import HttpRequest, HttpResponse

Channel = Callable[[HttpRequest], HttpResponse]

FORM = "application/x-www-form-urlencoded"
HTML = "text/html; charset=utf-8"
PROBLEM = "application/problem+json"
JSON_UTF8 = "application/json; charset=utf-8"
CORS = {"Access-Control-Allow-Origin": "*"}
CURL_ACCEPT = ("Accept", "*/*")
BROWSER_ACCEPT = (
    "Accept",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
)


@dataclass(frozen=True)
class Expect:
    status: int
    body: bytes | None = None  # exact bytes
    json: Any = None  # exact JSON document
    headers: dict[str, str] = field(default_factory=dict)  # exact values, names any case
    absent: tuple[str, ...] = ()  # headers that must not be sent


@dataclass(frozen=True)
class Case:
    name: str
    request: HttpRequest
    expect: Expect
    setup: tuple[HttpRequest, ...] = ()


def form_post(path: str, fields: str, *, accept: tuple[str, str] = CURL_ACCEPT) -> HttpRequest:
    """A raw urlencoded body, exactly as `curl -d` would send it."""
    return HttpRequest(
        "POST", path, headers=(("Content-Type", FORM), accept), body=fields.encode("utf-8")
    )


def json_post(path: str, document: Any) -> HttpRequest:
    return HttpRequest(
        "POST",
        path,
        headers=(("Content-Type", "application/json"), CURL_ACCEPT),
        body=json.dumps(document).encode(),
    )


def raw_json_post(path: str, body: bytes) -> HttpRequest:
    return HttpRequest(
        "POST", path, headers=(("Content-Type", "application/json"), CURL_ACCEPT), body=body
    )


def multipart_post(path: str, fields: dict[str, str]) -> HttpRequest:
    boundary = "----contract-boundary-7MA4YWxkTrZu0gW"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return HttpRequest(
        "POST",
        path,
        headers=(("Content-Type", f"multipart/form-data; boundary={boundary}"), CURL_ACCEPT),
        body=body,
    )


def get(path: str, query: dict[str, str] | None = None, **headers: str) -> HttpRequest:
    return HttpRequest(
        "GET", path, query=tuple((query or {}).items()), headers=(CURL_ACCEPT, *headers.items())
    )


def problem(
    status: int,
    detail: str,
    field_name: str | None = None,
    headers: dict[str, str] | None = None,
    absent: tuple[str, ...] = (),
) -> Expect:
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if field_name:
        document["field"] = field_name
    return Expect(
        status, json=document, headers={"Content-Type": PROBLEM, **(headers or {})}, absent=absent
    )


SEED_DETAILS = "username={user}&firstname=john&lastname=king"
SEED_SIGNUP = "username={user}&firstname=john"
SUCCESS_201 = Expect(
    201, b"Success", headers={"Content-Type": HTML}, absent=("Access-Control-Allow-Origin",)
)
SUCCESS_200_CORS = Expect(200, b"Success", headers={"Content-Type": HTML, **CORS})
TOO_BIG = 64 * 1024 + 1

CASES: tuple[Case, ...] = (
    # -- the seed article's three curl commands
    Case("seed: details", form_post("/userDetails", SEED_DETAILS), SUCCESS_201),
    Case("seed: sign-up", form_post("/userSignUp", SEED_SIGNUP), SUCCESS_200_CORS),
    Case(
        "seed: details without lastname",
        form_post("/userDetails", "username={user}&firstname=john"),
        problem(400, "'lastname' is required.", "lastname"),
    ),
    # -- userDetails
    Case(
        "details: repeating updates and still answers 201",
        form_post("/userDetails", "username={user}&lastname=queen"),
        SUCCESS_201,
        setup=(form_post("/userDetails", SEED_DETAILS),),
    ),
    Case(
        "details: JSON body",
        json_post("/userDetails", {"username": "{user}", "lastname": "king"}),
        SUCCESS_201,
    ),
    Case(
        "details: multipart body",
        multipart_post("/userDetails", {"username": "{user}", "lastname": "king"}),
        SUCCESS_201,
    ),
    Case(
        "details: a browser gets HTML from make_response",
        form_post("/userDetails", SEED_DETAILS, accept=BROWSER_ACCEPT),
        Expect(201, b"<h1>Success</h1>", headers={"Content-Type": HTML, "Vary": "Accept"}),
    ),
    Case(
        "details: GET returns what was posted",
        get("/userDetails", {"username": "{user}"}),
        Expect(
            200,
            json={"username": "{user}", "firstname": "john", "lastname": "queen"},
            headers={"Content-Type": JSON_UTF8},
        ),
        setup=(
            form_post("/userDetails", SEED_DETAILS),
            form_post("/userDetails", "username={user}&lastname=queen"),
        ),
    ),
    Case(
        "details: GET decodes query escapes",
        get("/userDetails", {"username": "{user}@ex.com"}),
        Expect(
            200,
            json={"username": "{user}@ex.com", "firstname": None, "lastname": "king"},
            headers={"Content-Type": JSON_UTF8},
        ),
        setup=(form_post("/userDetails", "username={user}%40ex.com&lastname=king"),),
    ),
    Case(
        "details: GET unknown user",
        get("/userDetails", {"username": "{user}"}),
        problem(404, "No user named '{user}'.", "username"),
    ),
    Case(
        "details: GET without username",
        get("/userDetails"),
        problem(400, "'username' is required.", "username"),
    ),
    Case(
        "details: username with forbidden characters",
        form_post("/userDetails", "username=sam%20smith&lastname=king"),
        problem(
            400, "'username' must be 1-64 characters from A-Z, a-z, 0-9 and _ . @ -.", "username"
        ),
    ),
    Case(
        "details: lastname too long",
        form_post("/userDetails", "username={user}&lastname=" + "k" * 101),
        problem(400, "'lastname' must be 1-100 characters.", "lastname"),
    ),
    Case(
        "details: a field given twice",
        form_post("/userDetails", "username={user}&lastname=a&lastname=b"),
        problem(400, "'lastname' is given more than once.", "lastname"),
    ),
    Case(
        "details: form that is not UTF-8",
        form_post("/userDetails", "username={user}&lastname=%FF%FE"),
        problem(400, "The form body is not valid UTF-8: invalid start byte."),
    ),
    Case(
        "details: malformed JSON",
        HttpRequest(
            "POST", "/userDetails", headers=(("Content-Type", "application/json"),), body=b"{"
        ),
        problem(
            400,
            "The body is not valid JSON: Expecting property name enclosed in double quotes:"
            " line 1 column 2 (char 1).",
        ),
    ),
    Case(
        "details: JSON that is not an object",
        json_post("/userDetails", ["username", "{user}"]),
        problem(400, "The JSON body must be an object of string fields."),
    ),
    Case(
        "details: JSON field that is not a string",
        json_post("/userDetails", {"username": "{user}", "lastname": 7}),
        problem(400, "'lastname' must be a string.", "lastname"),
    ),
    Case(
        "details: JSON with a lone surrogate escape",
        raw_json_post("/userDetails", b'{"username": "{user}", "lastname": "\\ud800"}'),
        problem(
            400, "'lastname' must be valid Unicode text (it has a lone surrogate).", "lastname"
        ),
    ),
    Case(
        "details: JSON that is not UTF-8",
        raw_json_post(
            "/userDetails", '{"username": "{user}", "lastname": "K\u00f6nig"}'.encode("latin-1")
        ),
        problem(400, "The JSON body is not valid UTF-8: invalid start byte."),
    ),
    Case(
        "details: JSON nested too deeply",
        raw_json_post("/userDetails", b"[" * 30000 + b"]" * 30000),
        problem(400, "The JSON body is nested too deeply."),
    ),
    Case(
        "details: JSON with a key given twice",
        raw_json_post("/userDetails", b'{"username": "{user}", "lastname": "a", "lastname": "b"}'),
        problem(400, "'lastname' is given more than once.", "lastname"),
    ),
    Case(
        "details: a name with a bidirectional override",
        json_post("/userDetails", {"username": "{user}", "lastname": "king\u202e"}),
        problem(400, "'lastname' must not contain control characters.", "lastname"),
    ),
    Case(
        "details: unsupported content type",
        HttpRequest(
            "POST", "/userDetails", headers=(("Content-Type", "text/plain"),), body=b"sam king"
        ),
        problem(
            415,
            "Content-Type 'text/plain' is not supported; send application/x-www-form-urlencoded,"
            " multipart/form-data, application/json.",
        ),
    ),
    Case(
        "details: body over the 64 KiB limit",
        form_post("/userDetails", "username={user}&lastname=" + "k" * TOO_BIG),
        problem(413, "The request body is larger than the 65536-byte limit."),
    ),
    Case(
        "details: wrong method",
        HttpRequest("DELETE", "/userDetails"),
        problem(
            405,
            "Method DELETE is not allowed on /userDetails; allowed: GET, HEAD, OPTIONS, POST.",
            headers={"Allow": "GET, HEAD, OPTIONS, POST"},
        ),
    ),
    # -- userSignUp
    Case(
        "sign-up: with a password",
        form_post("/userSignUp", "username={user}&password=correct-horse-battery"),
        SUCCESS_200_CORS,
    ),
    Case(
        "sign-up: after details were posted",
        form_post("/userSignUp", SEED_SIGNUP),
        SUCCESS_200_CORS,
        setup=(form_post("/userDetails", SEED_DETAILS),),
    ),
    Case(
        "sign-up: a taken username is a 409 that a browser can read",
        form_post("/userSignUp", SEED_SIGNUP),
        problem(409, "The username '{user}' is already taken.", "username", CORS),
        setup=(form_post("/userSignUp", SEED_SIGNUP),),
    ),
    Case(
        "sign-up: short password",
        form_post("/userSignUp", "username={user}&password=short"),
        problem(400, "'password' must be 8-256 characters.", "password", CORS),
    ),
    Case(
        "sign-up: a browser gets HTML from make_response",
        form_post("/userSignUp", SEED_SIGNUP, accept=BROWSER_ACCEPT),
        Expect(200, b"<h1>Success</h1>", headers={"Content-Type": HTML, "Vary": "Accept", **CORS}),
    ),
    Case(
        "sign-up: CORS preflight",
        HttpRequest(
            "OPTIONS",
            "/userSignUp",
            headers=(
                ("Origin", "https://app.example.com"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ),
        ),
        Expect(
            204,
            b"",
            headers={
                **CORS,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type",
            },
        ),
    ),
    Case(
        "sign-up: wrong method",
        get("/userSignUp"),
        problem(
            405,
            "Method GET is not allowed on /userSignUp; allowed: OPTIONS, POST.",
            headers={"Allow": "OPTIONS, POST", **CORS},
        ),
    ),
    Case(
        "sign-up: no content type",
        HttpRequest("POST", "/userSignUp", body=b"username=sam"),
        problem(
            415,
            "A request without a Content-Type is not supported; send"
            " application/x-www-form-urlencoded, multipart/form-data, application/json.",
            headers=CORS,
        ),
    ),
    # -- everything else
    Case(
        "unknown path",
        get("/users/{user}"),
        problem(404, "There is no resource at /users/{user}."),
    ),
)


def substitute(value: Any, user: str) -> Any:
    """``value`` with every ``{user}`` replaced, through strings, bytes, containers and the
    request/expectation dataclasses."""
    if isinstance(value, str):
        return value.replace("{user}", user)
    if isinstance(value, bytes):
        return value.replace(b"{user}", user.encode())
    if isinstance(value, tuple | list):
        return type(value)(substitute(v, user) for v in value)
    if isinstance(value, dict):
        return {substitute(k, user): substitute(v, user) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return replace(
            value, **{f.name: substitute(getattr(value, f.name), user) for f in fields(value)}
        )
    return value


def unique_user() -> str:
    return "u" + uuid.uuid4().hex[:12]


def run_case(channel: Channel, case: Case, user: str | None = None) -> HttpResponse:
    """Send the case through the channel and assert the contract; returns the response."""
    user = user or unique_user()
    for step in case.setup:
        response = channel(substitute(step, user))
        assert response.status < 300, (case.name, "setup", response)
    response = channel(substitute(case.request, user))
    check(substitute(case.expect, user), response, case.name)
    return response


def check(expect: Expect, response: HttpResponse, name: str) -> None:
    assert response.status == expect.status, (name, response.status, response.body[:300])
    if expect.body is not None:
        assert response.body == expect.body, (name, response.body[:300])
    if expect.json is not None:
        assert response.json() == expect.json, (name, response.body[:300])
    for header_name, value in expect.headers.items():
        assert response.header(header_name) == value, (name, header_name, response.headers)
    for header_name in expect.absent:
        assert response.header(header_name) is None, (name, header_name, response.headers)
