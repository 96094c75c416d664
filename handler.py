"""AWS Lambda entry point: read the event, run the Flask app with serverless-wsgi, shape
the answer for the channel that sent it.

The rules of each event kind live in lambda_edge/ (pure, tested without the app). This
module builds the app once per container and never raises for an HTTP event: each gets a
well-formed response (an exception would reach the client as a 502). Only an event from
another AWS service fails the invocation, on purpose (lambda_edge/events.py).
"""

from __future__ import annotations

import gc

# Init only builds what lives as long as the container (modules, the app, the DynamoDB
# client), so a collection during it frees nothing and only costs cold-start time. The
# collector resumes below, once gc.freeze() has moved all of it out of reach.
gc.disable()

import os
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import serverless_wsgi

from app import create_app, metrics, snapstart
from app.problems import PROBLEM_JSON, UNEXPECTED_DETAIL, problem_document
from app.request_log import log_event
from app.response_headers import header_policy
from app.runtime import Runtime, current_runtime, request_id_of, with_emulator_request_id
from lambda_edge import (
    Kind,
    LambdaResponse,
    RejectedEvent,
    Request,
    classify,
    is_warmup,
    plain_result,
    unknown_kind_response,
    warmup_response,
)


def steer_serverless_wsgi() -> None:
    """What this module changes in serverless-wsgi, once, at import. (What lambda_edge changes
    in the event it hands over is in its modules: lambda_edge/wsgi_input.py and the kinds.)

    - problem+json stays text: serverless-wsgi base64-encodes every type not on its list;
    - an answer sent without Content-Type (a 304) keeps none: serverless-wsgi rebuilds the
      answer as a werkzeug Response, whose default mimetype would add text/plain, and a cache
      may copy a 304's headers onto the page it holds.
    """
    if PROBLEM_JSON not in serverless_wsgi.TEXT_MIME_TYPES:
        serverless_wsgi.TEXT_MIME_TYPES.append(PROBLEM_JSON)
    serverless_wsgi.Response = ResponseWithoutDefaultType


class ResponseWithoutDefaultType(serverless_wsgi.Response):  # type: ignore[misc]  # untyped
    default_mimetype = None


def mounted(request: Request) -> Callable[..., Iterable[bytes]]:
    """The app as serverless-wsgi calls it, with the WSGI environ set from lambda_edge's
    reading of the event rather than serverless-wsgi's own:

    - SCRIPT_NAME and PATH_INFO: where the app is mounted and the route path, which
      serverless-wsgi would guess from the Host header alone (a /$default prefix, say);
    - wsgi.input_terminated: the body is fully buffered, and without it a
      Transfer-Encoding: chunked header copied from the client makes werkzeug ignore
      CONTENT_LENGTH and read nothing.
    """

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["SCRIPT_NAME"] = request.script_name
        environ["PATH_INFO"] = request.path_info
        environ["wsgi.input_terminated"] = True
        return app.wsgi_app(environ, start_response)

    return call


steer_serverless_wsgi()

try:
    # Created once per container, at init, so warm invocations pay nothing for it.
    app = create_app()
    # Everything built at init lives as long as the container: move it out of the garbage
    # collector's reach, so warm invocations stop re-scanning it.
    gc.freeze()
finally:
    gc.enable()  # also when init fails (a ConfigurationError), for whoever catches it

# A custom domain's base path mapping ("v1" for https://api.example.com/v1/...). The
# name is serverless-wsgi's own; lambda_edge strips it, for API Gateway events only.
BASE_PATH = "/" + os.environ.get("API_GATEWAY_BASE_PATH", "").strip("/")
UNDER_SERVERLESS_OFFLINE = current_runtime() is Runtime.SERVERLESS_OFFLINE
# The header policy the app follows, for the answers built here without it.
EDGE_ANSWER_HEADERS = header_policy(app).edge_answer()


def handler(event: Any, context: Any) -> LambdaResponse:
    if UNDER_SERVERLESS_OFFLINE:
        context = with_emulator_request_id(context)
    if is_warmup(event):
        return warmup_response()
    kind: Kind | None = None
    try:
        kind = classify(event)
        request = kind.read(event, BASE_PATH)
    except RejectedEvent as rejected:
        log_event(
            level="warning",
            message="rejected event",
            kind=kind.name if kind else None,
            detail=rejected.detail,
            event_keys=sorted(map(str, event)) if isinstance(event, dict) else type(event).__name__,
            aws_request_id=request_id_of(context),
        )
        return problem(kind, event, 400, rejected.detail)
    try:
        result = serverless_wsgi.handle_request(mounted(request), request.wsgi_event, context)
    except Exception:
        # The Flask app turns its own exceptions into 500 problems; this catches a
        # failure in the adapter itself, so the caller still gets a proxy response.
        request_id = request_id_of(context) or str(uuid.uuid4())
        log_event(
            level="error",
            message="adapter failure",
            aws_request_id=request_id,
            traceback=traceback.format_exc(),
        )
        metrics.write_unexpected_error_line(request_id)
        return problem(kind, event, 500, UNEXPECTED_DETAIL, request_id=request_id)
    return request.kind.respond(result)


def problem(
    kind: Kind | None, event: Any, status: int, detail: str, **extensions: Any
) -> LambdaResponse:
    """A problem response built without the app, shaped for the channel that sent it."""
    document = problem_document(status, detail, **extensions)
    result = plain_result(status, PROBLEM_JSON, document, EDGE_ANSWER_HEADERS)
    return kind.respond(result) if kind else unknown_kind_response(event, result)


# SnapStart (serverless.yml snapStart param): prime before the snapshot, refresh after restore.
snapstart.register_hooks(app, handler)
