"""API Gateway REST (payload v1), HTTP API (payload v2) and function URLs (the v2 shape).

Where the app is mounted, as the client sees the URL:

- REST on its execute-api host: the URL has ``/<stage>``, the event's ``path`` does not;
- HTTP API on a named stage: ``rawPath`` already starts with ``/<stage>``; on ``$default``
  there is no prefix;
- a custom domain with a base path mapping (``base_path``, "/v1"): the path starts with it;
- function URLs: never a prefix.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lambda_edge.base import Event, EventKind, LambdaResponse, Request
from lambda_edge.fields import (
    RejectedEvent,
    decoded_body,
    header,
    is_field_value,
    merged_headers,
    need_canonical_path,
    need_dict,
    need_field_str,
    need_method,
    pairs_of,
    string_list_map,
    string_map,
)
from lambda_edge.responses import completed, with_multi_value_headers, with_v2_cookies
from lambda_edge.wsgi_input import safe_context, without_warmup_marker, wsgi_path


def is_execute_api_host(host: str) -> bool:
    return ".execute-api." in host and host.endswith(".amazonaws.com")


def request_host(headers: dict[str, str], context: dict[str, Any]) -> str:
    """The Host header, or when a caller sent none (HTTP/1.0, a hand-made event), the
    domain API Gateway received the request on."""
    domain = context.get("domainName")
    return header(headers, "Host") or (domain if isinstance(domain, str) else "")


def strip_prefix(path: str, prefix: str) -> str | None:
    if path == prefix or path.startswith(prefix + "/"):
        return path[len(prefix) :] or "/"
    return None


def strip_base_path(script_name: str, path: str, base_path: str) -> tuple[str, str]:
    if base_path in ("", "/"):
        return script_name, path
    rest = strip_prefix(path, base_path)
    return (script_name + base_path, rest) if rest is not None else (script_name, path)


# Requests serverless.yml gives an API Gateway route of their own, throttled harder than the
# catch-all (serverless_plugins/api-events.js, custom.restApiEvents); tests/test_template.py
# checks that the template agrees.
OWN_ROUTES = frozenset({("POST", "/userSignUp")})
# The catch-all routes: HTTP API's $default (or ANY /{proxy+}), REST's /{proxy+} and /.
CATCH_ALL_ROUTES = frozenset({"$default", "ANY /{proxy+}", "/{proxy+}", "/"})


def need_own_route(method: str, app_path: str, route: Any, route_field: str) -> None:
    """A request with a route of its own is served only when it came through that route:
    through the catch-all, another spelling of its path (one API Gateway decoded before the
    event was built) would slip past its throttle."""
    if (method, app_path) in OWN_ROUTES and isinstance(route, str) and route in CATCH_ALL_ROUTES:
        raise RejectedEvent(
            f"{method} {app_path} came through the catch-all route ('{route_field}' is"
            f" {route!r}), not its own: send its path spelt exactly {app_path!r}."
        )


class RestV1:
    """API Gateway REST API, Lambda proxy integration (payload v1)."""

    name: ClassVar[EventKind] = "rest_v1"

    def read(self, event: Event, base_path: str) -> Request:
        context = safe_context(need_dict(event.get("requestContext"), "requestContext"))
        method = need_method(event.get("httpMethod"), "httpMethod")
        path = need_canonical_path(event.get("path"), "path")
        # Both null or absent is a request with no headers (the console's test invoke).
        single = string_map(event.get("headers"), "headers", names_are_tokens=True)
        multi = string_list_map(
            event.get("multiValueHeaders"), "multiValueHeaders", names_are_tokens=True
        )
        headers = merged_headers(pairs_of(multi) if multi else list(single.items()))
        query = string_map(event.get("queryStringParameters"), "queryStringParameters")
        multi_query = string_list_map(
            event.get("multiValueQueryStringParameters"), "multiValueQueryStringParameters"
        )
        body = decoded_body(
            event.get("body"), event.get("isBase64Encoded"), "body", "isBase64Encoded"
        )

        script_name = ""
        stage = context.get("stage")
        if isinstance(stage, str) and stage and is_execute_api_host(request_host(headers, context)):
            script_name = "/" + stage
        script_name, app_path = strip_base_path(script_name, path, base_path)
        need_own_route(method, app_path, event.get("resource"), "resource")
        wsgi_event: Event = {
            **without_warmup_marker(event),
            "httpMethod": method,
            "path": app_path,
            "headers": headers,
            # Lists in the event make serverless-wsgi answer with multiValueHeaders,
            # which carry repeated response headers (Set-Cookie) exactly.
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "requestContext": context,
            "body": body,  # bytes: serverless-wsgi passes them through as-is
            "isBase64Encoded": False,
        }
        return Request(self, wsgi_event, script_name, wsgi_path(app_path))

    def respond(self, result: LambdaResponse) -> LambdaResponse:
        return with_multi_value_headers(completed(result))


class HttpApiV2:
    """API Gateway HTTP API, payload format 2.0."""

    name: ClassVar[EventKind] = "http_api_v2"

    def read(self, event: Event, base_path: str) -> Request:
        context = safe_context(need_dict(event.get("requestContext"), "requestContext"))
        http = need_dict(context.get("http"), "requestContext.http")
        method = need_method(http.get("method"), "requestContext.http.method")
        path = need_canonical_path(event.get("rawPath"), "rawPath")
        if event.get("headers") is None:
            raise RejectedEvent("The event has no 'headers'.")
        headers = merged_headers(
            list(string_map(event.get("headers"), "headers", names_are_tokens=True).items())
        )
        raw_query = need_field_str(event.get("rawQueryString"), "rawQueryString")
        cookies = event.get("cookies")
        if cookies is not None and not (
            isinstance(cookies, list) and all(map(is_field_value, cookies))
        ):
            raise RejectedEvent("'cookies' must be a list of strings without CR, LF or NUL.")
        body = decoded_body(
            event.get("body"), event.get("isBase64Encoded"), "body", "isBase64Encoded"
        )

        script_name, app_path = self.mount(path, headers, context, base_path)
        self.need_own_route(method, app_path, event.get("routeKey"))
        wsgi_event: Event = {
            **without_warmup_marker(event),
            "rawPath": app_path,
            "rawQueryString": raw_query,
            "headers": headers,
            "cookies": cookies or [],
            "requestContext": context,
            "body": body,
            "isBase64Encoded": False,
        }
        # Payload v2 has no multiValueHeaders; a stray one would make serverless-wsgi answer
        # in lists, which this channel does not read (the answer would lose every header).
        wsgi_event.pop("multiValueHeaders", None)
        return Request(self, wsgi_event, script_name, wsgi_path(app_path))

    def mount(
        self, path: str, headers: dict[str, str], context: dict[str, Any], base_path: str
    ) -> tuple[str, str]:
        script_name = ""
        stage = context.get("stage")
        if (
            isinstance(stage, str)
            and stage not in ("", "$default")
            and is_execute_api_host(request_host(headers, context))
        ):
            rest = strip_prefix(path, "/" + stage)
            if rest is not None:
                script_name, path = "/" + stage, rest
        return strip_base_path(script_name, path, base_path)

    def need_own_route(self, method: str, app_path: str, route_key: Any) -> None:
        need_own_route(method, app_path, route_key, "routeKey")

    def respond(self, result: LambdaResponse) -> LambdaResponse:
        return with_v2_cookies(completed(result))


class FunctionUrl(HttpApiV2):
    """Lambda function URLs: the payload v2 shape on <id>.lambda-url.<region>.on.aws,
    with neither stages nor base path mappings."""

    name: ClassVar[EventKind] = "function_url"

    def mount(
        self, path: str, headers: dict[str, str], context: dict[str, Any], base_path: str
    ) -> tuple[str, str]:
        return "", path

    def need_own_route(self, method: str, app_path: str, route_key: Any) -> None:
        """A function URL has no routes (and no throttle but the function's concurrency)."""


def is_function_url(event: Event) -> bool:
    context = event.get("requestContext")
    domain = context.get("domainName") if isinstance(context, dict) else None
    return isinstance(domain, str) and ".lambda-url." in domain
