"""Where this process runs, and the request id of the invocation it serves.

The one place that tells a Lambda runtime (in AWS, or the Runtime Interface Emulator that
runs the same runtime locally) from the emulators that only imitate one
(serverless-offline's worker for `make run`, `osls invoke local`) and from plain local
runs (the Flask dev server, the tests). Nothing a client sends can change the answer: it
comes from the process environment only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import Enum
from typing import Any


class Runtime(Enum):
    LAMBDA = "lambda"  # a Lambda runtime: AWS sets AWS_LAMBDA_RUNTIME_API for it
    SERVERLESS_OFFLINE = "serverless-offline"  # `make run`'s emulator (IS_OFFLINE)
    INVOKE_LOCAL = "invoke-local"  # `osls invoke local` (IS_LOCAL)
    LOCAL = "local"  # the dev server, the tests, scripts


def current_runtime(environ: Mapping[str, str] | None = None) -> Runtime:
    """A Lambda runtime wins over the emulators' variables, whatever a deployer put in the
    function's environment."""
    env = os.environ if environ is None else environ
    if "AWS_LAMBDA_RUNTIME_API" in env:
        return Runtime.LAMBDA
    if env.get("IS_OFFLINE") == "true":
        return Runtime.SERVERLESS_OFFLINE
    if env.get("IS_LOCAL") == "true":
        return Runtime.INVOKE_LOCAL
    return Runtime.LOCAL


def request_id_of(context: Any) -> str | None:
    """The invocation's request id, from the Lambda context (None outside Lambda)."""
    request_id = getattr(context, "aws_request_id", None)
    return request_id if isinstance(request_id, str) and request_id else None


class EmulatorContext:
    """serverless-offline's context, answering aws_request_id with the emulator's own id."""

    def __init__(self, context: Any, request_id: str) -> None:
        self._context = context
        self.aws_request_id = request_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def with_emulator_request_id(context: Any) -> Any:
    """Under serverless-offline every context's aws_request_id is "1234567890" (its
    invoke.py), while the emulator's own per-invocation id, the one in its "RequestId: ..."
    log line, arrives as awsRequestId: the context with that id, for the logs to carry."""
    request_id = getattr(context, "awsRequestId", None)
    if not isinstance(request_id, str) or not request_id:
        return context
    return EmulatorContext(context, request_id)
