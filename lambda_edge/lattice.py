"""Amazon VPC Lattice with a Lambda target group, event structure versions 1 and 2.

No WSGI adapter knows Lattice, so ``read`` translates the event into the payload v1
shape serverless-wsgi serves, and ``respond`` shapes the answer back. Both versions get
the same contract:

- v1 has snake_case fields (``raw_path``, ``query_string_parameters``,
  ``is_base64_encoded``) and comma-joined repeated headers;
- v2 has ``version: "2.0"``, ``path``, ``queryStringParameters``, ``isBase64Encoded`` and a
  ``requestContext`` (service network, service and target group ARNs, identity).
  AWS's current schema sends header and query values as lists of strings; older samples
  (Powertools' models among them) as strings. Both are accepted, in both versions.

The response is ALB's: ``statusCode``, ``statusDescription``, ``headers``, ``body``,
``isBase64Encoded``. Its ``headers`` hold one value per name, so a header the app repeats
(Set-Cookie) goes out under names that differ only in letter case, which HTTP treats as
the same header: serverless-wsgi's way for single-value ALB. That Lattice forwards each
of them is this channel's documented limit: it cannot be checked without AWS.

Query values are taken as decoded text (unlike ALB's), from their own field, never from
the path; the client address is the last X-Forwarded-For entry, which Lattice appends.
"""

from __future__ import annotations

from typing import ClassVar

from lambda_edge.base import Event, EventKind, LambdaResponse, Request
from lambda_edge.fields import (
    decoded_body,
    merged_headers,
    need_canonical_path,
    need_dict,
    need_method,
    need_path,
    pairs_of,
    string_or_list_map,
)
from lambda_edge.responses import completed, with_status_description
from lambda_edge.wsgi_input import last_forwarded_for, wsgi_path


class LatticeV1:
    name: ClassVar[EventKind] = "lattice_v1"
    path_field: ClassVar[str] = "raw_path"
    query_field: ClassVar[str] = "query_string_parameters"
    base64_field: ClassVar[str] = "is_base64_encoded"

    def read(self, event: Event, base_path: str) -> Request:
        self.check_context(event)
        method = need_method(event.get("method"), "method")
        # A query string may ride along on the path; the query comes from its own field.
        path = need_path(event.get(self.path_field), self.path_field).partition("?")[0]
        need_canonical_path(path, self.path_field)
        headers = merged_headers(
            pairs_of(string_or_list_map(event.get("headers"), "headers", names_are_tokens=True))
        )
        query = string_or_list_map(event.get(self.query_field), self.query_field)
        body = decoded_body(
            event.get("body"), event.get(self.base64_field), "body", self.base64_field
        )
        wsgi_event: Event = {
            "httpMethod": method,
            "path": path,
            "headers": headers,
            "queryStringParameters": None,
            "multiValueQueryStringParameters": query or None,
            "requestContext": {"identity": {"sourceIp": last_forwarded_for(headers)}},
            "body": body,
            "isBase64Encoded": False,
        }
        return Request(self, wsgi_event, "", wsgi_path(path))

    def check_context(self, event: Event) -> None:
        """Version 1 has no requestContext."""

    def respond(self, result: LambdaResponse) -> LambdaResponse:
        return with_status_description(completed(result))


class LatticeV2(LatticeV1):
    name: ClassVar[EventKind] = "lattice_v2"
    path_field: ClassVar[str] = "path"
    query_field: ClassVar[str] = "queryStringParameters"
    base64_field: ClassVar[str] = "isBase64Encoded"

    def check_context(self, event: Event) -> None:
        need_dict(event.get("requestContext"), "requestContext")
