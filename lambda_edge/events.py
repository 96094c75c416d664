"""Which kind of event this is: the one place that tells them apart."""

from __future__ import annotations

from typing import Any

from lambda_edge.alb import Alb, AlbMultiValue
from lambda_edge.api_gateway import FunctionUrl, HttpApiV2, RestV1, is_function_url
from lambda_edge.base import EventKind, Kind, LambdaResponse
from lambda_edge.fields import RejectedEvent
from lambda_edge.lattice import LatticeV1, LatticeV2

KINDS: dict[EventKind, Kind] = {
    kind.name: kind
    for kind in (
        RestV1(),
        HttpApiV2(),
        FunctionUrl(),
        Alb(),
        AlbMultiValue(),
        LatticeV1(),
        LatticeV2(),
    )
}
EVENT_KINDS: tuple[EventKind, ...] = tuple(KINDS)
WARMUP_SOURCES = frozenset({"serverless-plugin-warmup"})
LATTICE_V1_FIELDS = frozenset({"raw_path", "query_string_parameters", "is_base64_encoded"})


def is_warmup(event: Any) -> bool:
    """A warm-up ping (serverless-plugin-warmup, a scheduled EventBridge rule)."""
    if not isinstance(event, dict):
        return False
    source = event.get("source")
    if not isinstance(source, str):  # any JSON value may arrive here, lists included
        return False
    return source in WARMUP_SOURCES or (
        source == "aws.events" and event.get("detail-type") == "Scheduled Event"
    )


def warmup_response() -> LambdaResponse:
    return {"statusCode": 204, "headers": {}, "body": "", "isBase64Encoded": False}


def classify(event: Any) -> Kind:
    """The kind whose rules this event follows, by the fields only that kind has.

    A damaged event of a known kind is classified all the same, so that its problem
    response names the field at fault and has the shape its channel accepts.
    """
    if not isinstance(event, dict):
        raise RejectedEvent(f"Expected an HTTP event object, got {type(event).__name__}.")
    if event.get("version") == "2.0":
        if "rawPath" not in event and ("method" in event or "path" in event):
            return KINDS["lattice_v2"]
        return KINDS["function_url" if is_function_url(event) else "http_api_v2"]
    context = event.get("requestContext")
    if isinstance(context, dict) and "elb" in context:
        return KINDS["alb_multi_value" if "multiValueHeaders" in event else "alb"]
    if "httpMethod" in event:
        return KINDS["rest_v1"]
    if not LATTICE_V1_FIELDS.isdisjoint(event):
        return KINDS["lattice_v1"]
    raise RejectedEvent(
        "Not an HTTP event: expected an API Gateway (REST or HTTP API), ALB, VPC Lattice"
        " or function URL request."
    )


def unknown_kind_response(event: Any, result: LambdaResponse) -> LambdaResponse:
    """A response for an event of no known kind, in the shape its fields suggest:
    lists when it came with multiValueHeaders."""
    if isinstance(event, dict) and isinstance(event.get("multiValueHeaders"), dict):
        result["multiValueHeaders"] = {k: [v] for k, v in result.pop("headers").items()}
    return result
