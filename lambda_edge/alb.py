"""Application Load Balancer targets: single-value (the default) and multi-value headers.

ALB passes query strings still URL-encoded, and appends the peer it saw to
X-Forwarded-For: that last entry is the client address a client cannot forge. The
response needs a ``statusDescription``; serverless-wsgi would add one only while it
knows the event is ALB, and then raises KeyError for codes missing from werkzeug's table,
so the event handed to it no longer says ALB and ``respond`` adds the description.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import unquote_plus

from lambda_edge.base import Event, EventKind, LambdaResponse, Request
from lambda_edge.fields import (
    decoded_body,
    merged_headers,
    need_canonical_path,
    need_dict,
    need_method,
    pairs_of,
    string_list_map,
    string_map,
)
from lambda_edge.responses import completed, with_multi_value_headers, with_status_description
from lambda_edge.wsgi_input import (
    last_forwarded_for,
    safe_context,
    without_warmup_marker,
    wsgi_path,
)


class Alb:
    """An ALB target group without multi-value headers: one value per name both ways."""

    name: ClassVar[EventKind] = "alb"
    multi_value: ClassVar[bool] = False

    def read(self, event: Event, base_path: str) -> Request:
        context = safe_context(need_dict(event.get("requestContext"), "requestContext"))
        method = need_method(event.get("httpMethod"), "httpMethod")
        path = need_canonical_path(event.get("path"), "path")
        if self.multi_value:
            headers_field, query_field = "multiValueHeaders", "multiValueQueryStringParameters"
            headers = merged_headers(
                pairs_of(
                    string_list_map(event.get(headers_field), headers_field, names_are_tokens=True)
                )
            )
            query = string_list_map(event.get(query_field), query_field)
        else:
            headers_field, query_field = "headers", "queryStringParameters"
            headers = string_map(event.get(headers_field), headers_field, names_are_tokens=True)
            query = {k: [v] for k, v in string_map(event.get(query_field), query_field).items()}
        body = decoded_body(
            event.get("body"), event.get("isBase64Encoded"), "body", "isBase64Encoded"
        )

        context.pop("elb", None)
        context["identity"] = {"sourceIp": last_forwarded_for(headers)}
        decoded_query = {
            unquote_plus(k): [unquote_plus(v) for v in values] for k, values in query.items()
        }
        wsgi_event: Event = {
            **without_warmup_marker(event),
            "httpMethod": method,
            "path": path,
            "headers": headers,
            "queryStringParameters": None,
            "multiValueQueryStringParameters": decoded_query or None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": False,
        }
        if self.multi_value:
            wsgi_event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
        else:
            wsgi_event.pop("multiValueHeaders", None)
        return Request(self, wsgi_event, "", wsgi_path(path))

    def respond(self, result: LambdaResponse) -> LambdaResponse:
        return with_status_description(completed(result))


class AlbMultiValue(Alb):
    """An ALB target group with multi-value headers turned on: lists both ways."""

    name: ClassVar[EventKind] = "alb_multi_value"
    multi_value: ClassVar[bool] = True

    def respond(self, result: LambdaResponse) -> LambdaResponse:
        return with_multi_value_headers(super().respond(result))
