"""The request/response contract: one table, run through every channel.

A case is a request (plus any setup requests it depends on) and the status, body
and headers the client must get back. ``{user}`` in a case stands for a username
unique to one run, so cases are independent of order and of each other, and every
channel can share one store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

from lambda_edge.header_policy import ALLOW_ANY_ORIGIN, NO_STORE, NOSNIFF
from tests.http_types import HttpRequest, HttpResponse

Channel = Callable[[HttpRequest], HttpResponse]

FORM = "application/x-www-form-urlencoded"
HTML = "text/html; charset=utf-8"
PROBLEM = "application/problem+json"
JSON_UTF8 = "application/json; charset=utf-8"
CORS = ALLOW_ANY_ORIGIN
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
class Refused:
    """A setup request that must get this (4xx) status: the case depends on its refusal."""

    request: HttpRequest
    status: int


@dataclass(frozen=True)
class Case:
    name: str
    request: HttpRequest
    expect: Expect
    setup: tuple[HttpRequest | Refused, ...] = ()


def form_post(
    path: str,
    fields: str,
    *,
    accept: tuple[str, str] = CURL_ACCEPT,
    auth: str | None = None,
) -> HttpRequest:
    """A raw urlencoded body, exactly as `curl -d` (and `curl -u user:password`) would send it."""
    headers = (("Content-Type", FORM), accept)
    if auth is not None:
        headers += (("Authorization", auth),)
    return HttpRequest("POST", path, headers=headers, body=fields.encode("utf-8"))


def basic(credentials: str) -> str:
    """An Authorization value for ``user:password`` (which may hold {user}); encoded when the
    case is run, after substitution (see ``substitute``)."""
    return "Basic {b64:" + credentials + "}"


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


def multipart_post(
    path: str,
    fields: dict[str, str | bytes],
    *,
    boundary: str = "----contract-boundary-7MA4YWxkTrZu0gW",
    file_fields: frozenset[str] = frozenset(),
    auth: str | None = None,
) -> HttpRequest:
    """A multipart/form-data body; bytes values go in raw, and ``file_fields`` are sent
    as file uploads (`curl -F name=@file`)."""
    body = b""
    for name, value in fields.items():
        disposition = f'form-data; name="{name}"'
        if name in file_fields:
            disposition += f'; filename="{name}.txt"\r\nContent-Type: text/plain'
        raw = value if isinstance(value, bytes) else value.encode()
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += raw + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return HttpRequest(
        "POST",
        path,
        headers=(
            ("Content-Type", f"multipart/form-data; boundary={boundary}"),
            CURL_ACCEPT,
            *((("Authorization", auth),) if auth is not None else ()),
        ),
        body=body,
    )


def get(path: str, query: dict[str, str] | None = None, **headers: str) -> HttpRequest:
    return HttpRequest(
        "GET", path, query=tuple((query or {}).items()), headers=(CURL_ACCEPT, *headers.items())
    )


def delete(path: str, query: dict[str, str] | None = None, **headers: str) -> HttpRequest:
    return HttpRequest(
        "DELETE",
        path,
        query=tuple((query or {}).items()),
        headers=(CURL_ACCEPT, *headers.items()),
    )


def problem(
    status: int,
    detail: str,
    field_name: str | None = None,
    headers: dict[str, str] | None = None,
    absent: tuple[str, ...] = (),
    *,
    cors: bool = True,
) -> Expect:
    """A problem+json answer. Both API paths give every answer, errors included, the CORS
    header (a browser on another origin can read it); other paths do not."""
    if cors:
        headers = {**CORS, **(headers or {})}
    else:
        absent = (*absent, "Access-Control-Allow-Origin")
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


CONTROL_DETAIL = "'lastname' must not contain control, format or line-separator characters."
PASSWORD = "correct-horse-1"
OWNER = basic("{user}:" + PASSWORD)
# A second account, for credentials that are valid but not the target's.
OTHER_SIGNUP = "username={user}x&password=other-password-1"
OTHER = basic("{user}x:other-password-1")
WRONG = basic("{user}:wrong-pw-1")
PROTECTED_SIGNUP = "username={user}&firstname=john&password=" + PASSWORD
CHALLENGE = {"WWW-Authenticate": 'Basic realm="user-api", charset="UTF-8"'}
WRONG_CREDENTIALS = "The username or password is wrong."
NEEDS_CREDENTIALS = (
    "This account is protected: send its username and password with HTTP Basic authentication."
)


def unauthorized(detail: str) -> Expect:
    return problem(401, detail, headers={**CHALLENGE, **NO_STORE})


# GET / (app/page.py): the page file served byte for byte, never from a cache without asking
# (ETag: the content's SHA-1, as werkzeug computes it), never in a frame, and running only
# its own inline script and style (CSP hashes, as a browser computes them).
PAGE_CONTENT = (Path(__file__).resolve().parent.parent / "app" / "page.html").read_bytes()


def inline_hash(element: str) -> str:
    (text,) = re.findall(rf"<{element}>(.*?)</{element}>", PAGE_CONTENT.decode(), re.S)
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


PAGE = Expect(
    200,
    PAGE_CONTENT,
    headers={
        "Content-Type": HTML,
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {inline_hash('script')};"
            f" style-src {inline_hash('style')}; img-src data:; connect-src 'self';"
            " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
        "ETag": '"' + hashlib.sha1(PAGE_CONTENT).hexdigest() + '"',
    },
    # Not an API answer: no other origin may read it.
    absent=("Access-Control-Allow-Origin",),
)

SEED_DETAILS = "username={user}&firstname=john&lastname=king"
SEED_SIGNUP = "username={user}&firstname=john"
SUCCESS_201 = Expect(201, b"Success", headers={"Content-Type": HTML, **CORS})
SUCCESS_200_CORS = Expect(200, b"Success", headers={"Content-Type": HTML, **CORS})
TOO_BIG = 64 * 1024 + 1
ERASED = Expect(204, b"", headers=CORS)
PASSWORD_CHANGED = Expect(200, b"Success", headers={"Content-Type": HTML, **NO_STORE, **CORS})

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
        Expect(201, b"<h1>Success</h1>", headers={"Content-Type": HTML, "Vary": "Accept", **CORS}),
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
    # Unknown fields are ignored, repeated or not (schemathesis sends such forms); only a
    # field a rule reads is refused when given twice.
    Case(
        "details: an unknown form field given twice is ignored",
        form_post("/userDetails", "username={user}&lastname=king&nick=a&nick=b"),
        SUCCESS_201,
    ),
    Case(
        "details: an unknown JSON key given twice is ignored",
        raw_json_post(
            "/userDetails", b'{"username": "{user}", "lastname": "king", "x": 1, "x": [2]}'
        ),
        SUCCESS_201,
    ),
    Case(
        "details: an unknown query parameter given twice is ignored",
        HttpRequest(
            "GET",
            "/userDetails",
            query=(("username", "{user}"), ("page", "1"), ("page", "2")),
            headers=(CURL_ACCEPT,),
        ),
        Expect(
            200,
            json={"username": "{user}", "firstname": "john", "lastname": "king"},
            headers={"Content-Type": JSON_UTF8, **NO_STORE, **CORS},
        ),
        setup=(form_post("/userDetails", SEED_DETAILS),),
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
        problem(400, CONTROL_DETAIL, "lastname", CORS),
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
        "details: a multipart body with too many parts",
        # A short boundary keeps 1,001 parts under the 64 KiB byte limit.
        multipart_post("/userDetails", {f"f{i}": "" for i in range(1001)}, boundary="b"),
        problem(413, "The multipart/form-data body has more than 1000 parts."),
    ),
    Case(
        "details: wrong method",
        HttpRequest("PUT", "/userDetails"),
        problem(
            405,
            "Method PUT is not allowed on /userDetails; allowed: DELETE, GET, HEAD, OPTIONS, POST.",
            headers={"Allow": "DELETE, GET, HEAD, OPTIONS, POST"},
        ),
    ),
    # -- protected accounts: a password sign-up protects its account (HTTP Basic)
    Case(
        "auth: details for a protected account need its credentials",
        form_post("/userDetails", "username={user}&firstname=Hacked&lastname=Pwned"),
        unauthorized(NEEDS_CREDENTIALS),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "auth: a wrong password is a 401",
        form_post("/userDetails", "username={user}&lastname=king", auth=basic("{user}:wrong-pw-1")),
        unauthorized(WRONG_CREDENTIALS),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        # Then even the right password waits (Retry-After: the seconds left, checked in
        # tests/test_auth.py): guessing gets no answer at all during the wait.
        "auth: after five wrong passwords in a row, the account makes the next one wait",
        get("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        problem(
            429,
            "Too many wrong passwords for this account; wait before trying again (Retry-After).",
            headers=NO_STORE,
        ),
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            *[Refused(get("/userDetails", {"username": "{user}"}, Authorization=WRONG), 401)] * 5,
        ),
    ),
    Case(
        "auth: another account's valid credentials are a 403",
        form_post("/userDetails", "username={user}&lastname=king", auth=OTHER),
        problem(
            403,
            "These credentials are for another account; they cannot read or change '{user}'.",
            "username",
            NO_STORE,
        ),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP), form_post("/userSignUp", OTHER_SIGNUP)),
    ),
    Case(
        "auth: the owner posts details, naming the account in any case",
        form_post(
            "/userDetails", "username={USER}&lastname=king", auth=basic("{USER}:" + PASSWORD)
        ),
        SUCCESS_201,
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "auth: GET of a protected account without credentials",
        get("/userDetails", {"username": "{user}"}),
        unauthorized(NEEDS_CREDENTIALS),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "auth: GET with another account's credentials",
        get("/userDetails", {"username": "{user}"}, Authorization=OTHER),
        problem(
            403,
            "These credentials are for another account; they cannot read or change '{user}'.",
            "username",
            NO_STORE,
        ),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP), form_post("/userSignUp", OTHER_SIGNUP)),
    ),
    Case(
        "auth: the owner's GET",
        get("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        Expect(
            200,
            json={"username": "{user}", "firstname": "john", "lastname": "king"},
            headers={"Content-Type": JSON_UTF8, **NO_STORE, **CORS},
        ),
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            form_post("/userDetails", "username={user}&lastname=king", auth=OWNER),
        ),
    ),
    Case(
        "auth: claiming a name drops details posted before the claim",
        get("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        Expect(
            200,
            json={"username": "{user}", "firstname": "john", "lastname": None},
            headers={"Content-Type": JSON_UTF8, **NO_STORE},
        ),
        setup=(
            form_post("/userDetails", "username={user}&firstname=Squatter&lastname=Pwned"),
            form_post("/userSignUp", PROTECTED_SIGNUP),
        ),
    ),
    *(
        Case(
            f"auth: a malformed Authorization header ({what}) is a 401",
            get("/userDetails", {"username": "{user}"}, Authorization=value),
            unauthorized(detail),
            setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
        )
        for what, value, detail in (
            ("not Basic", "Bearer abc.def", "The Authorization header must use the Basic scheme."),
            ("bad base64", "Basic !!!", "The Basic credentials are not valid base64."),
            (
                "no colon",
                basic("{user}"),
                "The Basic credentials must have the form username:password.",
            ),
            ("not UTF-8", "Basic /zr+", "The Basic credentials are not valid UTF-8."),
        )
    ),
    Case(
        "auth: an open account's details stay open to anyone",
        get("/userDetails", {"username": "{user}"}, Authorization="Bearer ignored"),
        Expect(
            200,
            json={"username": "{user}", "firstname": "john", "lastname": "king"},
            headers={"Content-Type": JSON_UTF8, **NO_STORE},
        ),
        setup=(
            form_post("/userSignUp", SEED_SIGNUP),
            form_post("/userDetails", SEED_DETAILS),
        ),
    ),
    Case(
        "auth: a cross-site form post cannot use browser-held credentials (CSRF)",
        HttpRequest(
            "POST",
            "/userDetails",
            headers=(
                ("Content-Type", FORM),
                CURL_ACCEPT,
                ("Authorization", OWNER),
                ("Origin", "https://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "navigate"),
            ),
            body=b"username={user}&lastname=CSRF",
        ),
        problem(
            403,
            "A cross-site form post cannot change a protected account; send the request as"
            " application/json with an Authorization header.",
            headers=NO_STORE,
        ),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "auth: a cross-origin front end posts JSON with its own Authorization",
        HttpRequest(
            "POST",
            "/userDetails",
            headers=(
                ("Content-Type", "application/json"),
                CURL_ACCEPT,
                ("Authorization", OWNER),
                ("Origin", "https://app.example.com"),
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "cors"),
            ),
            body=b'{"username": "{user}", "lastname": "king"}',
        ),
        SUCCESS_201,
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    # -- one identity per name, whatever its case
    Case(
        "identity: a name taken in another case is a 409",
        form_post("/userSignUp", "username={USER}&password=" + PASSWORD),
        problem(409, "The username '{USER}' is already taken.", "username"),
        setup=(form_post("/userSignUp", SEED_SIGNUP),),
    ),
    Case(
        "identity: GET finds a name in any case and returns the sign-up's spelling",
        get("/userDetails", {"username": "{USER}"}),
        Expect(
            200,
            json={"username": "{user}", "firstname": "john", "lastname": None},
            headers={"Content-Type": JSON_UTF8},
        ),
        setup=(form_post("/userSignUp", SEED_SIGNUP),),
    ),
    # -- what a browser front end sends and needs
    Case(
        "browser: empty optional fields count as absent",
        form_post("/userSignUp", "username={user}&firstname=&password="),
        SUCCESS_200_CORS,
    ),
    Case(
        "browser: an empty required field is a 400 naming it",
        form_post("/userDetails", "username={user}&firstname=&lastname="),
        problem(400, "'lastname' must be 1-100 characters.", "lastname"),
    ),
    Case(
        "browser: details CORS preflight allows Authorization",
        HttpRequest(
            "OPTIONS",
            "/userDetails",
            headers=(
                ("Origin", "https://app.example.com"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization,content-type"),
            ),
        ),
        Expect(
            204,
            b"",
            headers={
                **CORS,
                "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
            },
        ),
    ),
    Case(
        "details: a name that is only whitespace",
        json_post("/userDetails", {"username": "{user}", "lastname": " \u3000 "}),
        problem(400, "'lastname' must not be only whitespace.", "lastname"),
    ),
    Case(
        "details: a name with a zero-width character",
        json_post("/userDetails", {"username": "{user}", "lastname": "ki\u200bng"}),
        problem(400, CONTROL_DETAIL, "lastname"),
    ),
    Case(
        "details: a name with a line separator",
        json_post("/userDetails", {"username": "{user}", "lastname": "king\u2028"}),
        problem(400, CONTROL_DETAIL, "lastname"),
    ),
    # -- userSignUp
    Case(
        "sign-up: a password sent as a file part is refused, not dropped",
        multipart_post(
            "/userSignUp",
            {"username": "{user}", "password": "correct-horse-1"},
            file_fields=frozenset({"password"}),
        ),
        problem(400, "'password' must be a form field, not a file upload.", "password"),
    ),
    Case(
        "sign-up: a multipart field that is not UTF-8",
        multipart_post(
            "/userSignUp", {"username": "{user}", "password": b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"}
        ),
        problem(400, "'password' must be valid UTF-8 text.", "password"),
    ),
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
    # -- erasure: DELETE /userDetails, with GET's access rules
    Case(
        "erase: an open account is anyone's to erase",
        delete("/userDetails", {"username": "{user}"}),
        ERASED,
        setup=(form_post("/userSignUp", SEED_SIGNUP), form_post("/userDetails", SEED_DETAILS)),
    ),
    Case(
        "erase: details without an account",
        delete("/userDetails", {"username": "{USER}"}),
        ERASED,
        setup=(form_post("/userDetails", SEED_DETAILS),),
    ),
    Case(
        "erase: afterwards GET is a 404",
        get("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        problem(404, "No user named '{user}'.", "username"),
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            delete("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        ),
    ),
    Case(
        "erase: a second erasure is a 404",
        delete("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        problem(404, "No user named '{user}'.", "username"),
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            delete("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        ),
    ),
    Case(
        "erase: the name is free for a new sign-up",
        form_post("/userSignUp", "username={user}&password=a-new-owner-1"),
        SUCCESS_200_CORS,
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            form_post("/userDetails", "username={user}&lastname=king", auth=OWNER),
            delete("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        ),
    ),
    Case(
        "erase: an unknown name is a 404",
        delete("/userDetails", {"username": "{user}"}),
        problem(404, "No user named '{user}'.", "username"),
    ),
    Case(
        "erase: without username",
        delete("/userDetails"),
        problem(400, "'username' is required.", "username"),
    ),
    Case(
        "erase: a protected account needs its credentials",
        delete("/userDetails", {"username": "{user}"}),
        unauthorized(NEEDS_CREDENTIALS),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "erase: a wrong password is a 401",
        delete("/userDetails", {"username": "{user}"}, Authorization=WRONG),
        unauthorized(WRONG_CREDENTIALS),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "erase: another account's credentials are a 403",
        delete("/userDetails", {"username": "{user}"}, Authorization=OTHER),
        problem(
            403,
            "These credentials are for another account; they cannot read or change '{user}'.",
            "username",
            NO_STORE,
        ),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP), form_post("/userSignUp", OTHER_SIGNUP)),
    ),
    Case(
        "erase: the owner erases the account",
        delete("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        ERASED,
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "erase: the account waits out wrong passwords first",
        delete("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        problem(
            429,
            "Too many wrong passwords for this account; wait before trying again (Retry-After).",
            headers=NO_STORE,
        ),
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            *[Refused(get("/userDetails", {"username": "{user}"}, Authorization=WRONG), 401)] * 5,
        ),
    ),
    # -- password change: POST /userPassword, authorised by the current password
    Case(
        "password: the owner changes it",
        form_post("/userPassword", "username={user}&password=a-new-password-1", auth=OWNER),
        PASSWORD_CHANGED,
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "password: as JSON, in another letter case",
        HttpRequest(
            "POST",
            "/userPassword",
            headers=(
                ("Content-Type", "application/json"),
                CURL_ACCEPT,
                ("Authorization", basic("{USER}:" + PASSWORD)),
            ),
            body=b'{"username": "{USER}", "password": "a-new-password-1"}',
        ),
        PASSWORD_CHANGED,
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "password: as multipart",
        multipart_post(
            "/userPassword", {"username": "{user}", "password": "a-new-password-1"}, auth=OWNER
        ),
        PASSWORD_CHANGED,
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "password: afterwards the old one is wrong",
        get("/userDetails", {"username": "{user}"}, Authorization=OWNER),
        unauthorized(WRONG_CREDENTIALS),
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            form_post("/userPassword", "username={user}&password=a-new-password-1", auth=OWNER),
        ),
    ),
    Case(
        "password: afterwards the new one works",
        get("/userDetails", {"username": "{user}"}, Authorization=basic("{user}:a-new-password-1")),
        Expect(
            200,
            json={"username": "{user}", "firstname": "john", "lastname": None},
            headers={"Content-Type": JSON_UTF8, **NO_STORE, **CORS},
        ),
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            form_post("/userPassword", "username={user}&password=a-new-password-1", auth=OWNER),
        ),
    ),
    Case(
        "password: a change starts the count of wrong passwords over",
        get("/userDetails", {"username": "{user}"}, Authorization=basic("{user}:a-new-password-1")),
        Expect(200, headers={"Content-Type": JSON_UTF8, **NO_STORE, **CORS}),
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            *[Refused(get("/userDetails", {"username": "{user}"}, Authorization=WRONG), 401)] * 4,
            form_post("/userPassword", "username={user}&password=a-new-password-1", auth=OWNER),
            *[Refused(get("/userDetails", {"username": "{user}"}, Authorization=WRONG), 401)] * 4,
        ),
    ),
    Case(
        "password: an open account has none to change",
        form_post("/userPassword", "username={user}&password=a-new-password-1", auth=OWNER),
        problem(
            409,
            "The account '{user}' is open: it has no password to change, and a password would"
            " claim it.",
            "username",
            NO_STORE,
        ),
        setup=(form_post("/userSignUp", SEED_SIGNUP),),
    ),
    Case(
        "password: an unknown name is a 404",
        form_post("/userPassword", "username={user}&password=a-new-password-1", auth=OWNER),
        problem(404, "No account named '{user}'.", "username", NO_STORE),
        setup=(form_post("/userDetails", SEED_DETAILS),),
    ),
    Case(
        "password: without credentials",
        form_post("/userPassword", "username={user}&password=a-new-password-1"),
        unauthorized(NEEDS_CREDENTIALS),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "password: without credentials, even for an unknown name",
        form_post("/userPassword", "username={user}&password=a-new-password-1"),
        unauthorized(NEEDS_CREDENTIALS),
    ),
    Case(
        "password: a wrong current password is a 401",
        form_post("/userPassword", "username={user}&password=a-new-password-1", auth=WRONG),
        unauthorized(WRONG_CREDENTIALS),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "password: another account's credentials are a 403",
        form_post("/userPassword", "username={user}&password=a-new-password-1", auth=OTHER),
        problem(
            403,
            "These credentials are for another account; they cannot read or change '{user}'.",
            "username",
            NO_STORE,
        ),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP), form_post("/userSignUp", OTHER_SIGNUP)),
    ),
    Case(
        "password: the account waits out wrong passwords first",
        form_post("/userPassword", "username={user}&password=a-new-password-1", auth=OWNER),
        problem(
            429,
            "Too many wrong passwords for this account; wait before trying again (Retry-After).",
            headers=NO_STORE,
        ),
        setup=(
            form_post("/userSignUp", PROTECTED_SIGNUP),
            *[Refused(get("/userDetails", {"username": "{user}"}, Authorization=WRONG), 401)] * 5,
        ),
    ),
    Case(
        "password: a cross-site form post is refused",
        HttpRequest(
            "POST",
            "/userPassword",
            headers=(
                ("Content-Type", FORM),
                CURL_ACCEPT,
                ("Authorization", OWNER),
                ("Origin", "https://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "navigate"),
            ),
            body=b"username={user}&password=attackers-choice-1",
        ),
        problem(
            403,
            "A cross-site form post cannot change a protected account; send the request as"
            " application/json with an Authorization header.",
            headers=NO_STORE,
        ),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "password: too short",
        form_post("/userPassword", "username={user}&password=short", auth=OWNER),
        problem(400, "'password' must be 8-256 characters.", "password", NO_STORE),
    ),
    Case(
        "password: the new one is required",
        form_post("/userPassword", "username={user}", auth=OWNER),
        problem(400, "'password' is required.", "password", NO_STORE),
    ),
    Case(
        "password: a browser gets HTML",
        form_post(
            "/userPassword",
            "username={user}&password=a-new-password-1",
            accept=BROWSER_ACCEPT,
            auth=OWNER,
        ),
        Expect(
            200,
            b"<h1>Success</h1>",
            headers={"Content-Type": HTML, "Vary": "Accept", **NO_STORE, **CORS},
        ),
        setup=(form_post("/userSignUp", PROTECTED_SIGNUP),),
    ),
    Case(
        "password: CORS preflight allows Authorization",
        HttpRequest(
            "OPTIONS",
            "/userPassword",
            headers=(
                ("Origin", "https://app.example.com"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization,content-type"),
            ),
        ),
        Expect(
            204,
            b"",
            headers={
                **CORS,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Max-Age": "86400",
            },
        ),
    ),
    Case(
        "password: wrong method",
        get("/userPassword"),
        problem(
            405,
            "Method GET is not allowed on /userPassword; allowed: OPTIONS, POST.",
            headers={"Allow": "OPTIONS, POST", **NO_STORE},
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
    # -- the page (GET /)
    Case("page: GET / is the HTML page", get("/"), PAGE),
    Case(
        "page: revalidating with the current ETag is a 304 without a body",
        get("/", **{"If-None-Match": PAGE.headers["ETag"]}),
        Expect(
            304,
            b"",
            headers={k: v for k, v in PAGE.headers.items() if k != "Content-Type"},
            absent=("Content-Type", "Access-Control-Allow-Origin"),
        ),
    ),
    Case(
        "page: an ETag of another version gets the page",
        get("/", **{"If-None-Match": '"0000000000000000000000000000000000000000"'}),
        PAGE,
    ),
    Case(
        "page: POST / is a 405",
        form_post("/", SEED_SIGNUP),
        problem(
            405,
            "Method POST is not allowed on /; allowed: GET, HEAD, OPTIONS.",
            headers={"Allow": "GET, HEAD, OPTIONS"},
            cors=False,
        ),
    ),
    # -- everything else
    Case(
        "unknown path",
        get("/users/{user}"),
        problem(404, "There is no resource at /users/{user}.", cors=False),
    ),
)


BASE64_MARKER = re.compile(r"\{b64:([^{}]*)\}")


def substitute(value: Any, user: str) -> Any:
    """``value`` with every ``{user}`` (and upper-cased ``{USER}``) replaced, through strings,
    bytes, containers and the request/expectation dataclasses; then ``{b64:text}`` becomes
    the base64 of text (Basic credentials that name the user)."""
    if isinstance(value, str):
        text = value.replace("{user}", user).replace("{USER}", user.upper())
        return BASE64_MARKER.sub(lambda m: base64.b64encode(m[1].encode()).decode(), text)
    if isinstance(value, bytes):
        return value.replace(b"{user}", user.encode()).replace(b"{USER}", user.upper().encode())
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
        if isinstance(step, Refused):
            response = channel(substitute(step.request, user))
            assert response.status == step.status, (case.name, "setup", response)
            continue
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
    # Every answer the app gives, on every path and status.
    for header_name, value in NOSNIFF.items():
        assert response.header(header_name) == value, (name, response.headers)
