"""What every event kind unit provides, and the values passed between them and handler.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

# One name per event kind, used by handler.py, the event files and the tests.
EventKind = Literal[
    "rest_v1",
    "http_api_v2",
    "function_url",
    "alb",
    "alb_multi_value",
    "lattice_v1",
    "lattice_v2",
]
Event = dict[str, Any]
LambdaResponse = dict[str, Any]


def grouped_by_name(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, list[str]]]:
    """Header values per case-insensitive name, in order, under the name's first spelling."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for name, value in pairs:
        groups.setdefault(name.lower(), (name, []))[1].append(value)
    return groups


@dataclass(frozen=True, slots=True)
class Request:
    """A validated event, ready for serverless-wsgi."""

    kind: Kind
    wsgi_event: Event  # the event handed to serverless_wsgi.handle_request
    script_name: str  # where the app is mounted, for url_for and redirects
    path_info: str  # the route path, relative to script_name, as WSGI wants it


class Kind(Protocol):
    """One event kind: how its requests are read and its responses shaped.

    ``read`` raises :class:`lambda_edge.fields.RejectedEvent` for anything HTTP does not
    allow. ``respond`` takes serverless-wsgi's answer, or a plain
    ``{statusCode, headers, body, isBase64Encoded}`` built without the app, and returns
    what this channel accepts.
    """

    @property
    def name(self) -> EventKind: ...

    def read(self, event: Event, base_path: str) -> Request: ...

    def respond(self, result: LambdaResponse) -> LambdaResponse: ...
