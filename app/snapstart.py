"""Lambda SnapStart runtime hooks (serverless.yml: --param="snapStart=true").

With SnapStart, Lambda runs init once when a version is published, snapshots the
memory of the initialised process, and starts every later execution environment by
restoring a copy of that snapshot. So:

- Before the snapshot, whatever the first request would still have to do (the app's
  first-request work, the TLS context) is done once by one real request through the
  handler, and lands in the snapshot.
- After a restore, anything that must not be shared between the copies is rebuilt:
  the DynamoDB client (its connection was opened by the snapshotted process, and the
  credentials it cached from the container endpoint belong to that moment), and
  ``random``'s state, seeded at init and otherwise identical in every copy (the client's
  retry jitter draws from it, so copies would back off in lockstep). ``secrets``, ``uuid4`` and
  ``os.urandom`` read the kernel's generator, which Lambda reseeds on restore.

``snapshot_restore_py`` exists only inside the Lambda runtime (and in the dev
requirements, for the tests); elsewhere :func:`register_hooks` does nothing.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask

from app import metrics

# A read: GET /userDetails of one valid username, so the request goes all the way to the
# store (an invalid one would stop at validation). One GetItem, nothing written; if someone
# has that name, their details are read and thrown away.
PRIME_USERNAME = "snapstart.prime"
PRIME_EVENT: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/userDetails",
    "rawQueryString": f"username={PRIME_USERNAME}",
    "headers": {"accept": "application/json", "host": "snapstart.invalid"},
    "requestContext": {
        "http": {
            "method": "GET",
            "path": "/userDetails",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "snapstart-prime",
        },
        "requestId": "snapstart-prime",
        "routeKey": "$default",
        "stage": "$default",
    },
    "isBase64Encoded": False,
}

Handler = Callable[[Any, Any], dict[str, Any]]


def register_hooks(app: Flask, handler: Handler) -> bool:
    """Register the hooks with the runtime; False where there is no SnapStart runtime."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-untyped]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(prime, handler)
    register_after_restore(refresh, app)
    return True


def prime(handler: Handler) -> None:
    """One read-only request through the handler. Its answer does not matter (404, or
    503 if the table is unreachable at publish time): never fail the snapshot for it."""
    try:
        handler(PRIME_EVENT, None)
    except Exception as exc:  # the handler answers every input; this is belt and braces
        print(f"snapstart: priming request failed: {exc!r}", file=sys.stderr)


def refresh(app: Flask) -> None:
    """Per-copy state after a restore: a fresh seed and a fresh DynamoDB client."""
    random.seed()  # from os.urandom
    metrics.start_container()  # this copy's first request is its cold start, not the prime's
    store = app.extensions.get("user_store")
    dynamodb = sys.modules.get("app.store.dynamodb")  # imported only on the DynamoDB path
    if dynamodb is None or not isinstance(store, dynamodb.DynamoUserStore):
        return
    old = store.client
    dynamodb.shared_client.cache_clear()
    store.client = dynamodb.shared_client(dynamodb.ClientSettings.from_config(app.config))
    if isinstance(old, dynamodb.DynamoDBClient):
        old.reset()  # its connection and cached credentials date from before the snapshot
    else:
        old.close()  # another client behind the seam
