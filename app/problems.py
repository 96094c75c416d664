"""RFC 9457 problem details: every 4xx and 5xx this app sends is application/problem+json."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, Response, current_app, json, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from app.runtime import request_id_of
from app.store import StoreUnavailable
from lambda_edge.responses import status_title

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raised by views for a client-facing error; rendered by ``render_problem``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def problem_document(status: int, detail: str, **extensions: Any) -> str:
    """The JSON text of a problem; handler.py uses it too, for answers built without the app."""
    body = {
        # about:blank: the status code says it all, and title is its phrase (RFC 9457 4.2.1).
        "type": "about:blank",
        "title": status_title(status),
        "status": status,
        "detail": detail,
        **extensions,
    }
    return json.dumps(body)


def problem_response(
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    response = Response(
        problem_document(status, detail, **extensions), status=status, mimetype=PROBLEM_JSON
    )
    response.headers.update(headers or {})
    return response


def render_problem(problem: Problem) -> Response:
    return problem_response(problem.status, problem.detail, problem.headers, **problem.extensions)


def describe_http_error(error: HTTPException) -> tuple[str, dict[str, str]]:
    """A detail that names what is wrong, instead of werkzeug's generic sentence."""
    if isinstance(error, MethodNotAllowed):
        allowed = ", ".join(sorted(error.valid_methods or ()))
        return (
            f"Method {request.method} is not allowed on {request.path}; allowed: {allowed}.",
            {"Allow": allowed},
        )
    if isinstance(error, RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        length = request.content_length
        if request.mimetype == "multipart/form-data" and length is not None and length <= limit:
            # Within the byte limit, so werkzeug refused it for its number of parts.
            return f"The multipart/form-data body has more than {request.max_form_parts} parts.", {}
        return f"The request body is larger than the {limit}-byte limit.", {}
    if error.code == 404:
        return f"There is no resource at {request.path}.", {}
    return error.description or status_title(error.code or 500), {}


def render_http_error(error: HTTPException) -> Response | HTTPException:
    if error.code is None or error.code < 400:
        return error  # redirects and the like are not errors
    detail, headers = describe_http_error(error)
    return problem_response(error.code, detail, headers)


RETRY_AFTER_SECONDS = 2
UNEXPECTED_DETAIL = "An unexpected error occurred. Quote the request_id when reporting it."


def render_store_unavailable(error: StoreUnavailable) -> Response:
    # The store guarantees nothing was written, so a retry is safe; say when.
    current_app.logger.warning("store unavailable: %s", error)
    return problem_response(
        503,
        "The user store is temporarily unavailable; nothing was changed. Retry shortly.",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def render_unexpected(error: Exception) -> Response:
    """A bug: the client gets a request id to quote, the traceback goes to the logs only."""
    request_id = lambda_request_id() or str(uuid.uuid4())
    current_app.logger.exception("unhandled error, request_id=%s", request_id)
    return problem_response(
        500,
        UNEXPECTED_DETAIL,
        request_id=request_id,
    )


def lambda_request_id() -> str | None:
    return request_id_of(request.environ.get("serverless.context"))


def init_app(app: Flask) -> None:
    app.register_error_handler(Problem, render_problem)
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(StoreUnavailable, render_store_unavailable)
    app.register_error_handler(Exception, render_unexpected)
