"""AWS Lambda entry point: guard and normalise the event, then let serverless-wsgi run Flask.

serverless-wsgi 3.1.0 crashes on many inputs (missing headers, bad base64, null
authorizers...) and gets several channel details wrong (Set-Cookie on HTTP API v2,
the `/$default` stage prefix, base64-encoded problem+json, ALB status descriptions).
This module fixes those at the edges, so that the Flask view's status, body and
headers reach the client unchanged on every channel, and every input at all gets a
well-formed proxy response instead of an exception (which API Gateway turns into 502).

Flow: event -> classify -> normalise (validated copy) -> serverless_wsgi.handle_request
-> finish (channel-specific response shape).
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import os
import re
import sys
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, unquote_plus

import serverless_wsgi

from app import create_app
from app.problems import PROBLEM_JSON, UNEXPECTED_DETAIL, problem_document, status_title

# serverless-wsgi base64-encodes any type not on this list; problem+json is text.
if PROBLEM_JSON not in serverless_wsgi.TEXT_MIME_TYPES:
    serverless_wsgi.TEXT_MIME_TYPES.append(PROBLEM_JSON)

# Created once per container, at init, so warm invocations pay nothing for it.
app = create_app()
# Everything built at init lives as long as the container: move it out of the garbage
# collector's reach, so warm invocations stop re-scanning it (measured with the DynamoDB
# client: the second request 11 ms -> 4 ms).
gc.freeze()

EventKind = Literal["rest", "http_api", "alb", "alb_multi"]
Event = dict[str, Any]
LambdaResponse = dict[str, Any]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# A custom domain's base path mapping ("v1" for https://api.example.com/v1/...). The
# name is serverless-wsgi's own, but the stripping happens here (see split_mount).
BASE_PATH = "/" + os.environ.get("API_GATEWAY_BASE_PATH", "").strip("/")
# Lone surrogates cannot be encoded as UTF-8; serverless-wsgi crashes on them in
# paths, queries and headers. API Gateway never sends them; a hand-made event might.
SURROGATE = re.compile(r"[\ud800-\udfff]")
# RFC 9110 token: what a method or a header field name may be.
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 9110 5.5: a field value never carries CR, LF or NUL; werkzeug raises on them (a 500).
FORBIDDEN_IN_FIELD = re.compile(r"[\r\n\x00]")
WARMUP_SOURCES = frozenset({"serverless-plugin-warmup"})


class RejectedEvent(Exception):
    """The event cannot be served as an HTTP request; ``detail`` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class HttpEvent:
    kind: EventKind
    event: Event  # the validated copy handed to serverless-wsgi
    script_name: str  # where the app is mounted, for url_for and redirects
    path_info: str  # the route path, relative to script_name


# ---------------------------------------------------------------- the entry point


def handler(event: Any, context: Any) -> LambdaResponse:
    if is_warmup(event):
        return {"statusCode": 204, "headers": {}, "body": "", "isBase64Encoded": False}
    try:
        request = normalise(event)
    except RejectedEvent as rejected:
        log_json(
            level="warning",
            message="rejected event",
            detail=rejected.detail,
            event_keys=sorted(map(str, event)) if isinstance(event, dict) else type(event).__name__,
            aws_request_id=request_id_of(context),
        )
        return problem_result(event, 400, rejected.detail)
    try:
        result = serverless_wsgi.handle_request(mounted(request), request.event, context)
    except Exception:
        # The Flask app turns its own exceptions into 500 problems; this catches a
        # failure in the adapter itself, so the caller still gets a proxy response.
        request_id = request_id_of(context) or str(uuid.uuid4())
        log_json(
            level="error",
            message="adapter failure",
            aws_request_id=request_id,
            traceback=traceback.format_exc(),
        )
        return problem_result(event, 500, UNEXPECTED_DETAIL, request_id=request_id)
    return finish(request.kind, result)


def is_warmup(event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    source = event.get("source")
    if not isinstance(source, str):  # any JSON value may arrive here, lists included
        return False
    return source in WARMUP_SOURCES or (
        source == "aws.events" and event.get("detail-type") == "Scheduled Event"
    )


def mounted(request: HttpEvent) -> WsgiApp:
    """The app with SCRIPT_NAME and PATH_INFO set from our own reading of the event."""

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["SCRIPT_NAME"] = request.script_name
        environ["PATH_INFO"] = request.path_info
        # The body is fully buffered; without this, a Transfer-Encoding: chunked header
        # copied from the client makes werkzeug ignore CONTENT_LENGTH and read nothing.
        environ["wsgi.input_terminated"] = True
        return app.wsgi_app(environ, start_response)

    return call


# ---------------------------------------------------------------- classify and validate


def classify(event: Any) -> EventKind:
    if not isinstance(event, dict):
        raise RejectedEvent(f"Expected an HTTP event object, got {type(event).__name__}.")
    context = event.get("requestContext")
    if event.get("version") == "2.0":
        return "http_api"
    if isinstance(context, dict) and "elb" in context:
        return "alb_multi" if "multiValueHeaders" in event else "alb"
    if "httpMethod" in event:
        return "rest"
    raise RejectedEvent(
        "Not an HTTP event: expected an API Gateway (REST or HTTP API), ALB or"
        " function URL request."
    )


def normalise(event: Any) -> HttpEvent:
    kind = classify(event)
    if kind == "http_api":
        return normalise_http_api(event)
    return normalise_v1(event, kind)


def need_dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RejectedEvent(f"'{name}' must be an object.")
    return value


def is_text(value: Any) -> bool:
    # isascii() is a flag check in CPython; only non-ASCII text needs the search.
    return type(value) is str and (value.isascii() or not SURROGATE.search(value))


def need_str(value: Any, name: str) -> str:
    if not is_text(value):
        raise RejectedEvent(f"'{name}' must be a string of valid Unicode.")
    return value


def need_path(value: Any, name: str) -> str:
    if not is_text(value) or not value.startswith("/"):
        raise RejectedEvent(f"'{name}' must be a string of valid Unicode starting with '/'.")
    return value


def need_method(value: Any, name: str) -> str:
    if not isinstance(value, str) or not TOKEN.fullmatch(value):
        raise RejectedEvent(f"'{name}' must be an HTTP method name.")
    return value


def optional_dict(value: Any, name: str) -> dict[str, Any]:
    return {} if value is None else need_dict(value, name)


def is_field_value(value: Any) -> bool:
    return is_text(value) and not FORBIDDEN_IN_FIELD.search(value)


def need_field_name(key: Any, name: str, names_are_tokens: bool) -> None:
    if names_are_tokens:
        if not isinstance(key, str) or not TOKEN.fullmatch(key):
            raise RejectedEvent(f"'{name}' has a name that is not an HTTP token: {key!r}.")
    elif not is_field_value(key):
        raise RejectedEvent(f"'{name}' has a name with CR, LF, NUL or invalid Unicode.")


def need_field_values(values: list[Any], name: str, key: str, shape: str) -> None:
    for item in values:
        if not is_text(item):
            raise RejectedEvent(f"'{name}' must map strings to {shape}.")
        if FORBIDDEN_IN_FIELD.search(item):
            raise RejectedEvent(f"'{name}' value for {key!r} contains CR, LF or NUL.")


def string_map(value: Any, name: str, names_are_tokens: bool = False) -> dict[str, str]:
    mapping = optional_dict(value, name)
    for key, item in mapping.items():
        need_field_name(key, name, names_are_tokens)
        need_field_values([item], name, key, "strings")
    return mapping


def string_list_map(value: Any, name: str, names_are_tokens: bool = False) -> dict[str, list[str]]:
    mapping = optional_dict(value, name)
    for key, values in mapping.items():
        need_field_name(key, name, names_are_tokens)
        if type(values) is not list:
            raise RejectedEvent(f"'{name}' must map strings to lists of strings.")
        need_field_values(values, name, key, "lists of strings")
    return mapping


def join_header(name: str, values: list[str]) -> str:
    # serverless-wsgi keeps only the last of repeated request headers; RFC 9110 lets
    # them be joined with commas, except Cookie, whose separator is "; " (RFC 6265).
    return ("; " if name.lower() == "cookie" else ", ").join(values)


def merged_headers(single: dict[str, str], multi: dict[str, list[str]]) -> dict[str, str]:
    """One value per case-insensitive header name, repeated values joined."""
    pairs = [(k, v) for k, vs in multi.items() for v in vs] if multi else list(single.items())
    if len({k.lower() for k, _ in pairs}) == len(pairs):
        return dict(pairs)  # the usual case: nothing repeated, nothing to join
    grouped: dict[str, tuple[str, list[str]]] = {}
    for name, value in pairs:
        grouped.setdefault(name.lower(), (name, []))[1].append(value)
    return {name: join_header(name, values) for name, values in grouped.values()}


def header(headers: dict[str, str], name: str) -> str:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), "")


def decoded_body(event: Event) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise RejectedEvent("'body' must be a string or null.")
    flag = event.get("isBase64Encoded")
    if flag not in (None, True, False):
        raise RejectedEvent("'isBase64Encoded' must be a boolean.")
    if not flag:
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise RejectedEvent("'body' is marked isBase64Encoded but is not valid base64.") from None


def without_warmup_marker(event: Event) -> Event:
    # serverless-wsgi answers {} to any event with a warm-up "source"; an HTTP event
    # that happens to carry one must still reach the app.
    if "source" not in event:
        return event
    return {k: v for k, v in event.items() if k != "source"}


def safe_context(context: dict[str, Any]) -> dict[str, Any]:
    """requestContext with the parts serverless-wsgi dereferences made safe."""
    fixed = dict(context)
    if not isinstance(fixed.get("authorizer"), dict):
        fixed.pop("authorizer", None)
    identity = fixed.get("identity")
    if not isinstance(identity, dict) or not isinstance(identity.get("sourceIp", ""), str):
        fixed["identity"] = {}
    http = fixed.get("http")
    if isinstance(http, dict) and not isinstance(http.get("sourceIp", ""), str):
        fixed["http"] = {k: v for k, v in http.items() if k != "sourceIp"}
    return fixed


def normalise_v1(event: Event, kind: EventKind) -> HttpEvent:
    """REST API (payload v1) and ALB events, which share serverless-wsgi's v1 path."""
    context = safe_context(need_dict(event.get("requestContext"), "requestContext"))
    method = need_method(event.get("httpMethod"), "httpMethod")
    path = need_path(event.get("path"), "path")
    # Both null or absent is a request with no headers (API Gateway's console test invoke).
    single = string_map(event.get("headers"), "headers", names_are_tokens=True)
    multi = string_list_map(
        event.get("multiValueHeaders"), "multiValueHeaders", names_are_tokens=True
    )
    headers = merged_headers(single, multi)
    query = string_map(event.get("queryStringParameters"), "queryStringParameters")
    multi_query = string_list_map(
        event.get("multiValueQueryStringParameters"), "multiValueQueryStringParameters"
    )
    body = decoded_body(event)

    if kind in ("alb", "alb_multi"):
        # ALB passes query strings still URL-encoded. serverless-wsgi would decode them
        # too, but only while it knows the event is ALB, and in that mode it crashes on
        # status codes missing from werkzeug's table; finish() adds statusDescription.
        context.pop("elb", None)
        query = {unquote_plus(k): unquote_plus(v) for k, v in query.items()}
        multi_query = {
            unquote_plus(k): [unquote_plus(v) for v in vs] for k, vs in multi_query.items()
        }
        # ALB appends the peer it saw to X-Forwarded-For: the last entry is the one
        # a client cannot forge.
        forwarded = header(headers, "X-Forwarded-For")
        context["identity"] = {"sourceIp": forwarded.rsplit(",", 1)[-1].strip()}

    script_name, app_path = split_mount(kind, path, headers, context)
    normalised: Event = {
        **without_warmup_marker(event),
        "httpMethod": method,
        "path": app_path,
        "headers": headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": context,
        "body": body,  # bytes: serverless-wsgi passes them through as-is
        "isBase64Encoded": False,
    }
    if kind == "alb":
        normalised.pop("multiValueHeaders", None)
    else:
        # REST and multi-value ALB answer with multiValueHeaders, which carries
        # repeated response headers (Set-Cookie) exactly.
        normalised["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    return HttpEvent(kind, normalised, script_name, wsgi_path(app_path))


def normalise_http_api(event: Event) -> HttpEvent:
    """HTTP API payload v2, which function URLs share."""
    context = safe_context(need_dict(event.get("requestContext"), "requestContext"))
    http = need_dict(context.get("http"), "requestContext.http")
    need_method(http.get("method"), "requestContext.http.method")
    path = need_path(event.get("rawPath"), "rawPath")
    if event.get("headers") is None:
        raise RejectedEvent("The event has no 'headers'.")
    headers = merged_headers(string_map(event.get("headers"), "headers", names_are_tokens=True), {})
    raw_query = event.get("rawQueryString")
    raw_query = "" if raw_query is None else need_str(raw_query, "rawQueryString")
    if FORBIDDEN_IN_FIELD.search(raw_query):
        raise RejectedEvent("'rawQueryString' contains CR, LF or NUL.")
    cookies = event.get("cookies")
    if cookies is not None and not (
        isinstance(cookies, list) and all(map(is_field_value, cookies))
    ):
        raise RejectedEvent("'cookies' must be a list of strings without CR, LF or NUL.")
    body = decoded_body(event)

    script_name, app_path = split_mount("http_api", path, headers, context)
    normalised: Event = {
        **without_warmup_marker(event),
        "rawPath": app_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "cookies": cookies or [],
        "requestContext": context,
        "body": body,
        "isBase64Encoded": False,
    }
    return HttpEvent("http_api", normalised, script_name, wsgi_path(app_path))


# ---------------------------------------------------------------- where the app is mounted


def is_execute_api_host(host: str) -> bool:
    return ".execute-api." in host and host.endswith(".amazonaws.com")


def strip_prefix(path: str, prefix: str) -> str | None:
    if path == prefix or path.startswith(prefix + "/"):
        return path[len(prefix) :] or "/"
    return None


def split_mount(
    kind: EventKind, path: str, headers: dict[str, str], context: dict[str, Any]
) -> tuple[str, str]:
    """(SCRIPT_NAME, route path) as the client sees the URL.

    - REST on its execute-api host: the URL has /<stage>, the event's path does not.
    - HTTP API on a named stage: rawPath already starts with /<stage>; on $default
      (and on function URLs) there is no prefix at all.
    - Custom domain with a base path mapping: the path starts with the base path.
    """
    script_name = ""
    stage = context.get("stage")
    staged = kind == "rest" or (kind == "http_api" and stage != "$default")
    if staged and isinstance(stage, str) and stage and is_execute_api_host(header(headers, "Host")):
        if kind == "rest":
            script_name = "/" + stage
        else:
            rest = strip_prefix(path, "/" + stage)
            if rest is not None:
                script_name, path = "/" + stage, rest
    if BASE_PATH != "/":
        rest = strip_prefix(path, BASE_PATH)
        if rest is not None:
            script_name, path = script_name + BASE_PATH, rest
    return script_name, path


def wsgi_path(path: str) -> str:
    # WSGI wants PATH_INFO decoded and carried as latin-1 text, as serverless-wsgi does.
    return unquote(path).encode("utf-8", "surrogatepass").decode("latin-1")


# ---------------------------------------------------------------- the response


def finish(kind: EventKind, result: LambdaResponse) -> LambdaResponse:
    """Shape serverless-wsgi's answer for the channel, and make it always well-formed."""
    result.setdefault("body", "")  # serverless-wsgi omits body for empty responses
    result.setdefault("isBase64Encoded", False)
    if kind == "http_api":
        fold_v2_headers(result)
    elif kind in ("alb", "alb_multi"):
        result["statusDescription"] = status_description(result["statusCode"])
    if kind in ("rest", "alb_multi") and "multiValueHeaders" not in result:
        # Only when the request had no headers at all did serverless-wsgi pick `headers`.
        result["multiValueHeaders"] = {k: [v] for k, v in result.pop("headers", {}).items()}
    return result


def fold_v2_headers(result: LambdaResponse) -> None:
    """serverless-wsgi emits repeated headers as case-permuted names (set-cookie,
    Set-cookie, ...). Payload v2 has `cookies` for Set-Cookie and takes other repeated
    headers comma-joined."""
    cookies: list[str] = []
    grouped: dict[str, tuple[str, list[str]]] = {}
    for name, value in result.get("headers", {}).items():
        if name.lower() == "set-cookie":
            cookies.append(value)
        else:
            grouped.setdefault(name.lower(), (name, []))[1].append(value)
    result["headers"] = {name: ", ".join(values) for name, values in grouped.values()}
    if cookies:
        result["cookies"] = cookies


def status_description(status: int) -> str:
    return f"{status} {status_title(status)}"


def problem_result(event: Any, status: int, detail: str, **extensions: Any) -> LambdaResponse:
    """A problem response built without the app, shaped for whatever channel sent it."""
    body = problem_document(status, detail, **extensions)
    result: LambdaResponse = {"statusCode": status, "body": body, "isBase64Encoded": False}
    headers = {"Content-Type": PROBLEM_JSON}
    if isinstance(event, dict) and isinstance(event.get("multiValueHeaders"), dict):
        result["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        result["headers"] = headers
    context = event.get("requestContext") if isinstance(event, dict) else None
    if isinstance(context, dict) and "elb" in context:
        result["statusDescription"] = status_description(status)
    return result


# ---------------------------------------------------------------- logging


def request_id_of(context: Any) -> str | None:
    request_id = getattr(context, "aws_request_id", None)
    return request_id if isinstance(request_id, str) else None


def log_json(**fields: Any) -> None:
    record = {k: v for k, v in fields.items() if v is not None}
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()
