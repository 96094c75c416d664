"""One JSON line per request on stdout, which Lambda ships to CloudWatch Logs.

Only metadata is logged: never a body, a query string or a header, since those
carry passwords and personal data.
"""

from __future__ import annotations

import json
import sys
import time

from flask import Flask, Response, g, request

from app.problems import lambda_request_id


def start_timer() -> None:
    g.request_started = time.perf_counter()


def log_request(response: Response) -> Response:
    started = g.get("request_started")
    record = {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3) if started else None,
    }
    request_id = lambda_request_id()
    if request_id:
        record["aws_request_id"] = request_id
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    return response


def init_app(app: Flask) -> None:
    app.before_request(start_timer)
    app.after_request(log_request)
