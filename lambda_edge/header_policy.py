"""Response headers: the one policy for every answer, the app's and the edge's own.

Pure, like the rest of lambda_edge: the app's after-request hook (app/response_headers.py)
and handler.py, for the answers it builds without the app, both ask this module, and the
tests import it instead of restating it.

- ``X-Content-Type-Options: nosniff`` on every answer: a browser never reads a body as a
  type other than the one sent;
- ``Strict-Transport-Security`` on every answer when every channel is HTTPS (in AWS), never
  on the local emulator's or the dev server's plain HTTP;
- ``Access-Control-Allow-Origin: *`` on every answer of the API's paths, errors included,
  so that a page on another origin can read why its request was refused;
- ``Cache-Control: no-store`` on personal data, on answers that depend on credentials and
  on every answer about a password;
- ``Vary: Accept`` on a successful POST, whose body depends on Accept (HTML for browsers).
"""

from __future__ import annotations

from dataclasses import dataclass

NOSNIFF = {"X-Content-Type-Options": "nosniff"}
# One year; without includeSubDomains, since a custom domain's other hosts are not this API's.
STRICT_TRANSPORT_SECURITY = {"Strict-Transport-Security": "max-age=31536000"}
ALLOW_ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}
NO_STORE = {"Cache-Control": "no-store"}
# The API, and its description (for an OpenAPI tool running on another origin).
CORS_PATHS = frozenset({"/userSignUp", "/userDetails", "/userPassword", "/openapi.json"})
# Answers that depend on who is asking: never kept by a cache.
CREDENTIAL_STATUSES = frozenset({401, 403, 429})
PERSONAL_DATA_PATHS = frozenset({"/userDetails"})
# Every answer here concerns a password, success included.
CREDENTIAL_PATHS = frozenset({"/userPassword"})


@dataclass(frozen=True, slots=True)
class AppAnswer:
    """What the policy needs to know of a request the app answered."""

    method: str
    path: str  # the route path, without where the app is mounted
    status: int
    routed: bool  # the path and method matched one of the app's routes


@dataclass(frozen=True, slots=True)
class HeaderPolicy:
    """The policy for one process: ``https_only`` when every channel reaching it is HTTPS."""

    https_only: bool

    def every_answer(self) -> dict[str, str]:
        return {**NOSNIFF, **(STRICT_TRANSPORT_SECURITY if self.https_only else {})}

    def app_answer(self, answer: AppAnswer) -> dict[str, str]:
        """The headers to set on an answer of the app (see ``vary_of`` for Vary)."""
        headers = self.every_answer()
        if answer.path in CORS_PATHS:
            headers |= ALLOW_ANY_ORIGIN
        reads_personal_data = (
            answer.method in ("GET", "HEAD") and answer.path in PERSONAL_DATA_PATHS
        )
        if (
            answer.status in CREDENTIAL_STATUSES
            or reads_personal_data
            or answer.path in CREDENTIAL_PATHS
        ):
            headers |= NO_STORE
        return headers

    def edge_answer(self) -> dict[str, str]:
        """The headers of an answer handler.py builds without the app (a rejected event).
        The edge knows no routes, so it allows any origin on every path (nothing in such an
        answer is private), and no cache keeps the refusal."""
        return {**self.every_answer(), **ALLOW_ANY_ORIGIN, **NO_STORE}


def vary_of(answer: AppAnswer) -> frozenset[str]:
    """Request headers a cache must key this answer on."""
    if answer.method == "POST" and answer.routed and answer.status < 300:
        return frozenset({"Accept"})
    return frozenset()
