"""What every event kind hands serverless-wsgi: the parts they all prepare the same way."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from lambda_edge.base import Event
from lambda_edge.fields import header


def wsgi_path(path: str) -> str:
    # WSGI wants PATH_INFO decoded and carried as latin-1 text, as serverless-wsgi does.
    return unquote(path).encode("utf-8", "surrogatepass").decode("latin-1")


def without_warmup_marker(event: Event) -> Event:
    # serverless-wsgi answers {} to any event with a warm-up "source"; an HTTP event
    # that happens to carry one must still reach the app.
    return {k: v for k, v in event.items() if k != "source"} if "source" in event else event


def safe_context(context: dict[str, Any]) -> dict[str, Any]:
    """requestContext with the parts serverless-wsgi dereferences made safe: a null
    authorizer and a non-string sourceIp would crash it, and are no fault of the client."""
    fixed = dict(context)
    if not isinstance(fixed.get("authorizer"), dict):
        fixed.pop("authorizer", None)
    identity = fixed.get("identity")
    if not isinstance(identity, dict) or not isinstance(identity.get("sourceIp", ""), str):
        fixed["identity"] = {}
    http = fixed.get("http")
    if isinstance(http, dict) and not isinstance(http.get("sourceIp", ""), str):
        fixed["http"] = {k: v for k, v in http.items() if k != "sourceIp"}
    return fixed


def last_forwarded_for(headers: dict[str, str]) -> str:
    return header(headers, "X-Forwarded-For").rsplit(",", 1)[-1].strip()
