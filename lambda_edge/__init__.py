"""The Lambda edge: reading events and shaping responses, one unit per event kind.

Pure: no Flask, no app, no environment. handler.py passes in what it knows (the base
path) and runs the app with serverless-wsgi between ``read`` and ``respond``.

- ``fields``: reading event parts, accepting only what HTTP allows (``RejectedEvent``);
- ``wsgi_input``: the parts of serverless-wsgi's input every kind prepares alike;
- ``responses``: the pieces of a channel's response shape;
- ``header_policy``: the response headers of every answer, the app's and the edge's;
- ``api_gateway``: REST v1, HTTP API v2, function URL;
- ``alb``: ALB single-value and multi-value;
- ``lattice``: VPC Lattice v1 and v2;
- ``events``: which kind an event is (or a warm-up ping).
"""

from lambda_edge.base import Event, EventKind, Kind, LambdaResponse, Request
from lambda_edge.events import (
    EVENT_KINDS,
    KINDS,
    EventFromAnotherService,
    classify,
    is_warmup,
    unknown_kind_response,
    warmup_response,
)
from lambda_edge.fields import RejectedEvent
from lambda_edge.responses import plain_result

__all__ = [
    "EVENT_KINDS",
    "KINDS",
    "Event",
    "EventFromAnotherService",
    "EventKind",
    "Kind",
    "LambdaResponse",
    "RejectedEvent",
    "Request",
    "classify",
    "is_warmup",
    "plain_result",
    "unknown_kind_response",
    "warmup_response",
]
