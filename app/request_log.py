"""Application logs: one JSON object per line, carrying Lambda's request id.

Everything goes through `logging`, never straight to stdout. In Lambda (serverless.yml sets
logFormat JSON), the Python runtime's root handler renders each `logging` record as one JSON
object with `timestamp`, `level`, `message`, `logger`, `requestId` and the record's `extra`
fields; a plain stdout write would reach CloudWatch as raw text beside those objects. Outside
Lambda (tests, `make run`, serverless-offline) there is no such handler, so
`StdoutJsonHandler` writes the same shape to stdout.

Only metadata is logged: never a body, a query string or a header (passwords, personal data,
the Authorization header).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from flask import Flask, Response, g, request

from app.problems import lambda_request_id
from app.runtime import Runtime, current_runtime

LOGGER = logging.getLogger("user_api")

# LogRecord attributes an `extra` key may not overwrite (logging raises KeyError).
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS |= {"error": logging.ERROR, "critical": logging.CRITICAL}


class JsonLineFormatter(logging.Formatter):
    """The Lambda runtime's JSON shape (awslambdaric's JsonFormatter), for local runs."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", None),
        }
        if record.exc_info:
            line["stackTrace"] = self.formatException(record.exc_info)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key != "aws_request_id" and key not in line:
                line[key] = value
        return json.dumps({k: v for k, v in line.items() if v is not None}, default=str)


class StdoutJsonHandler(logging.Handler):
    """Writes to whatever sys.stdout is at emit time (pytest's capture, offline's pipe)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def configure_logging() -> None:
    """Outside Lambda, give LOGGER a JSON stdout handler; inside, the runtime's root handler
    serves it, at the level serverless.yml's applicationLogLevel sets on the root logger."""
    if current_runtime() is Runtime.LAMBDA or any(
        isinstance(h, StdoutJsonHandler) for h in LOGGER.handlers
    ):
        return
    handler = StdoutJsonHandler()
    handler.setFormatter(JsonLineFormatter())
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    # Not also through whatever the host configured on the root logger (osls `invoke local`
    # calls basicConfig): one line per record.
    LOGGER.propagate = False


def log_event(level: str = "info", message: str = "", **fields: Any) -> None:
    """One record; `fields` become top-level keys. aws_request_id becomes requestId."""
    configure_logging()
    extra = {}
    for key, value in fields.items():
        if value is not None:
            extra[f"{key}_" if key in _RECORD_ATTRIBUTES else key] = value
    LOGGER.log(_LEVELS.get(level, logging.INFO), message, extra=extra)


def start_timer() -> None:
    g.request_started = time.perf_counter()


def log_request(response: Response) -> Response:
    started = g.get("request_started")
    log_event(
        "info",
        "request",
        method=request.method,
        path=request.path,
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 3) if started else None,
        aws_request_id=lambda_request_id(),
    )
    return response


def init_app(app: Flask) -> None:
    configure_logging()
    app.before_request(start_timer)
    app.after_request(log_request)
