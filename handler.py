"""AWS Lambda entry point: read the event, run the Flask app with serverless-wsgi, shape
the answer for the channel that sent it.

The rules of each event kind live in lambda_edge/ (pure, tested without the app). This
module builds the app once per container and never raises: every input at all gets a
well-formed response (an exception would reach the client as a 502).
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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import serverless_wsgi

from app import create_app, snapstart
from app.problems import PROBLEM_JSON, UNEXPECTED_DETAIL, problem_document
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

# serverless-wsgi base64-encodes any type not on this list; problem+json is text.
if PROBLEM_JSON not in serverless_wsgi.TEXT_MIME_TYPES:
    serverless_wsgi.TEXT_MIME_TYPES.append(PROBLEM_JSON)


# serverless-wsgi rebuilds the app's answer as a werkzeug Response, whose default mimetype
# would add `Content-Type: text/plain` to an answer sent without one: a 304, where werkzeug
# leaves it out because a cache may copy a 304's headers onto the page it holds.
class ResponseWithoutDefaultType(serverless_wsgi.Response):  # type: ignore[misc]  # untyped
    default_mimetype = None


serverless_wsgi.Response = ResponseWithoutDefaultType

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


# Under serverless-offline (make run) every context's aws_request_id is "1234567890" (its
# invoke.py), while the emulator's own per-invocation id, the one in its "RequestId: ..." log
# line, arrives as the context's awsRequestId. Only there: serverless-offline sets IS_OFFLINE,
# and a Lambda runtime (AWS_LAMBDA_RUNTIME_API) never takes this path, so in Lambda the
# runtime's id stands. Nothing a client sends (headers, the event) can set it.
def under_serverless_offline(environ: Mapping[str, str]) -> bool:
    return environ.get("IS_OFFLINE") == "true" and "AWS_LAMBDA_RUNTIME_API" not in environ


UNDER_SERVERLESS_OFFLINE = under_serverless_offline(os.environ)


class EmulatorContext:
    """serverless-offline's context, answering aws_request_id with the emulator's own id."""

    def __init__(self, context: Any, request_id: str) -> None:
        self._context = context
        self.aws_request_id = request_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def emulated_context(context: Any) -> Any:
    request_id = getattr(context, "awsRequestId", None)
    if not isinstance(request_id, str) or not request_id:
        return context
    return EmulatorContext(context, request_id)


def handler(event: Any, context: Any) -> LambdaResponse:
    if UNDER_SERVERLESS_OFFLINE:
        context = emulated_context(context)
    if is_warmup(event):
        return warmup_response()
    kind: Kind | None = None
    try:
        kind = classify(event)
        request = kind.read(event, BASE_PATH)
    except RejectedEvent as rejected:
        log_json(
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
        log_json(
            level="error",
            message="adapter failure",
            aws_request_id=request_id,
            traceback=traceback.format_exc(),
        )
        return problem(kind, event, 500, UNEXPECTED_DETAIL, request_id=request_id)
    return request.kind.respond(result)


def mounted(request: Request) -> Callable[..., Iterable[bytes]]:
    """The app with SCRIPT_NAME and PATH_INFO set from lambda_edge's reading of the event."""

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["SCRIPT_NAME"] = request.script_name
        environ["PATH_INFO"] = request.path_info
        # The body is fully buffered; without this, a Transfer-Encoding: chunked header
        # copied from the client makes werkzeug ignore CONTENT_LENGTH and read nothing.
        environ["wsgi.input_terminated"] = True
        return app.wsgi_app(environ, start_response)

    return call


def problem(
    kind: Kind | None, event: Any, status: int, detail: str, **extensions: Any
) -> LambdaResponse:
    """A problem response built without the app, shaped for the channel that sent it."""
    result = plain_result(status, PROBLEM_JSON, problem_document(status, detail, **extensions))
    return kind.respond(result) if kind else unknown_kind_response(event, result)


def request_id_of(context: Any) -> str | None:
    request_id = getattr(context, "aws_request_id", None)
    return request_id if isinstance(request_id, str) else None


def log_json(**fields: Any) -> None:
    # Through `logging`: Lambda's JSON log format turns records, not stdout writes, into JSON
    # objects with the request id (app/request_log.py).
    from app.request_log import log_event

    log_event(**fields)


# SnapStart (serverless.yml snapStart param): prime before the snapshot, refresh after restore.
snapstart.register_hooks(app, handler)
