"""Shaping a Lambda response for a channel: the pieces the event kinds combine.

serverless-wsgi answers with ``headers`` (repeated names spelt in different letter
cases, its trick for single-value channels) or ``multiValueHeaders`` (when the event
had them), omits ``body`` for empty responses, and knows nothing of v2 ``cookies`` or
of status codes missing from werkzeug's table.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from lambda_edge.base import LambdaResponse, grouped_by_name


def completed(result: LambdaResponse) -> LambdaResponse:
    result.setdefault("body", "")
    result.setdefault("isBase64Encoded", False)
    return result


# RFC 9110 15: a code's first digit is its class, all a client may assume of an unknown one.
STATUS_CLASSES = {
    1: "Informational",
    2: "Success",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
}


def status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return STATUS_CLASSES.get(status // 100, "Unknown")


def with_status_description(result: LambdaResponse) -> LambdaResponse:
    """ALB and VPC Lattice want "<code> <reason>" for every code, known or not."""
    status = result["statusCode"]
    result["statusDescription"] = f"{status} {status_title(status)}"
    return result


def with_multi_value_headers(result: LambdaResponse) -> LambdaResponse:
    """REST and multi-value ALB carry repeated headers (Set-Cookie) in lists."""
    if "multiValueHeaders" not in result:
        groups = grouped_by_name(result.pop("headers", {}).items())
        result["multiValueHeaders"] = dict(groups.values())
    return result


def with_v2_cookies(result: LambdaResponse) -> LambdaResponse:
    """Payload v2 has ``cookies`` for Set-Cookie and takes other repeated headers
    comma-joined, instead of serverless-wsgi's case-permuted names."""
    groups = grouped_by_name(result.pop("headers", {}).items())
    _, cookies = groups.pop("set-cookie", ("", []))
    result["headers"] = {name: ", ".join(values) for name, values in groups.values()}
    if cookies:
        result["cookies"] = cookies
    return result


def plain_result(
    status: int, content_type: str, body: str, headers: Mapping[str, str]
) -> LambdaResponse:
    """A text response built without the app (a problem for a rejected event), with the
    header policy's headers for such answers (lambda_edge/header_policy.py: edge_answer)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **headers},
        "body": body,
        "isBase64Encoded": False,
    }
