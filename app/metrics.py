"""CloudWatch metrics in the embedded metric format (EMF): one JSON line per request.

No API call and nothing to wait for: the line goes to stdout, Lambda ships it to CloudWatch
Logs with the rest of the function's output, and CloudWatch Logs turns it into metrics
(namespace NAMESPACE, dimension Stage). Why stdout and not `logging`: under the function's
JSON log format (serverless.yml, logFormat JSON) the runtime wraps every `logging` record in
an object of its own, so the EMF document would arrive as a string inside "message" and no
metric would be extracted; a stdout line that is a JSON object passes through untouched
(tests/test_lambda_logs.py checks both under the real runtime).

How a request is counted:
- every answer is counted by its status (STATUS_METRICS) and, on success, by its route
  (SUCCESS_METRICS): a new endpoint is counted by one entry there;
- outcome points that know more than the status call ``count(NAME)`` (app/auth.py: a wrong
  password, an account wait, a cross-site refusal); a metric in REFINES replaces the plain
  status count, so a cross-site 403 is not also a Forbidden;
- ``write_request_line`` (an after_request hook) writes the one line.

The line carries counts, the stage, a level and the request id, nothing a client sent.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from typing import Any

from flask import Flask, Response, g, request

from app.problems import lambda_request_id

NAMESPACE = "UserApi"
STAGE_DIMENSION = "Stage"
# Set by serverless.yml to the deployed stage; "local" under `make run` and in tests.
STAGE = os.environ.get("SERVICE_STAGE") or "local"

# Lambda's log-level filter (serverless.yml logLevel, AWS_LAMBDA_LOG_LEVEL in the runtime) takes
# a JSON line without a "level" as INFO, and drops it when the function logs at WARN or above.
# The line carries the lowest level the filter keeps, so the metrics survive any logLevel.
LAMBDA_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def kept_level(configured: str | None) -> str:
    level = (configured or "").upper()
    if level in LAMBDA_LOG_LEVELS[LAMBDA_LOG_LEVELS.index("INFO") + 1 :]:
        return level
    return "INFO"


LEVEL = kept_level(os.environ.get("AWS_LAMBDA_LOG_LEVEL"))

# Every metric the function emits (docs/operations.md says what each counts).
REQUESTS = "Requests"
COLD_STARTS = "ColdStarts"
SIGN_UPS = "SignUps"
DETAILS_WRITES = "DetailsWrites"
DETAILS_READS = "DetailsReads"
PASSWORD_CHANGES = "PasswordChanges"
ERASURES = "Erasures"
UNAUTHORIZED = "Unauthorized"
WRONG_PASSWORDS = "WrongPasswords"
FORBIDDEN = "Forbidden"
CROSS_SITE_REFUSALS = "CrossSiteRefusals"
ACCOUNT_WAITS = "AccountWaits"
TOO_MANY_REQUESTS = "TooManyRequests"
CONFLICTS = "Conflicts"
STORE_UNAVAILABLE = "StoreUnavailable"
UNEXPECTED_ERRORS = "UnexpectedErrors"

# A successful (2xx) answer on these routes counts as one of these.
SUCCESS_METRICS = {
    ("POST", "/userSignUp"): SIGN_UPS,
    ("POST", "/userDetails"): DETAILS_WRITES,
    ("GET", "/userDetails"): DETAILS_READS,
    ("POST", "/userPassword"): PASSWORD_CHANGES,
    ("DELETE", "/userDetails"): ERASURES,
}
STATUS_METRICS = {
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    409: CONFLICTS,
    429: TOO_MANY_REQUESTS,
    500: UNEXPECTED_ERRORS,
    503: STORE_UNAVAILABLE,
}
# An outcome point's metric that stands in for its status's plain count.
REFINES = {CROSS_SITE_REFUSALS: FORBIDDEN, ACCOUNT_WAITS: TOO_MANY_REQUESTS}

ALL_METRICS = (
    REQUESTS,
    COLD_STARTS,
    *SUCCESS_METRICS.values(),
    *STATUS_METRICS.values(),
    WRONG_PASSWORDS,
    *REFINES,
)

_first_line_of_container = True


def count(name: str, value: int = 1) -> None:
    """Add to this request's tally; written once, when the answer is ready."""
    tally: Counter[str] = g.setdefault("metrics", Counter())
    tally[name] += value


def request_counts(
    method: str, route: str | None, status: int, tally: Counter[str]
) -> Counter[str]:
    """Everything this answer counts as: the outcome points' tally, plus its status and route."""
    counts = Counter(tally)
    counts[REQUESTS] = 1
    status_metric = STATUS_METRICS.get(status)
    if status_metric and not any(REFINES.get(name) == status_metric for name in tally):
        counts[status_metric] += 1
    success_metric = SUCCESS_METRICS.get((method, route or ""))
    if success_metric and 200 <= status < 300:
        counts[success_metric] += 1
    return counts


def emf_document(counts: Counter[str], request_id: str | None, timestamp_ms: int) -> dict[str, Any]:
    """One EMF document (CloudWatch's "Specification: Embedded metric format")."""
    names = [name for name in counts if counts[name]]
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[STAGE_DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in names],
                }
            ],
        },
        STAGE_DIMENSION: STAGE,
        "level": LEVEL,
    }
    document.update((name, counts[name]) for name in names)
    if request_id:
        document["requestId"] = request_id  # not a dimension: lets a reader find the request
    return document


def write_line(counts: Counter[str], request_id: str | None) -> None:
    """Write one EMF line to stdout; the container's first line also counts the cold start."""
    global _first_line_of_container
    if _first_line_of_container:
        counts[COLD_STARTS] = 1
        _first_line_of_container = False
    document = emf_document(counts, request_id, int(time.time() * 1000))
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def start_container() -> None:
    """The next line is a new container's first (app/snapstart.py, after a restore)."""
    global _first_line_of_container
    _first_line_of_container = True


def write_request_line(response: Response) -> Response:
    rule = request.url_rule.rule if request.url_rule is not None else None
    counts = request_counts(request.method, rule, response.status_code, g.get("metrics", Counter()))
    write_line(counts, lambda_request_id())
    return response


def write_unexpected_error_line(request_id: str | None) -> None:
    """For a failure outside the app (handler.py's adapter), which no hook sees."""
    write_line(Counter({REQUESTS: 1, UNEXPECTED_ERRORS: 1}), request_id)


def init_app(app: Flask) -> None:
    app.after_request(write_request_line)
