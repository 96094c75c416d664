"""AWS Signature Version 4, with the standard library alone (``hmac``, ``hashlib``).

The published algorithm (AWS General Reference, "Create a signed AWS API request"):
a canonical request (method, URI, query, headers, payload hash), a string to sign
over its hash, and an HMAC-SHA256 chain from the secret key through date, region and
service. tests/test_sigv4.py checks it against AWS's signing test suite and against
botocore's ``SigV4Auth`` on randomized requests.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
# Headers a proxy or the client library may change in flight; botocore leaves the same out.
UNSIGNED_HEADERS = frozenset({"expect", "user-agent", "x-amzn-trace-id"})


@dataclass(frozen=True, slots=True)
class Credentials:
    """An access key, with the session token of temporary credentials."""

    access_key_id: str
    # repr=False: a secret never reaches a log line or a traceback through repr().
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def amz_date(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def normalized_path(path: str) -> str:
    """The path with empty, "." and ".." segments resolved (RFC 3986 section 5.2.4)."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    joined = "/" + "/".join(segments)
    if path.endswith("/") and segments:
        joined += "/"
    return joined


def canonical_query(query: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in query)
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_headers(headers: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """(the canonical header block, the signed-header list): names lower-cased and sorted,
    values trimmed with inner whitespace runs made one space, repeats joined by commas."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered not in UNSIGNED_HEADERS:
            values.setdefault(lowered, []).append(" ".join(value.split()))
    names = sorted(values)
    block = "".join(f"{name}:{','.join(values[name])}\n" for name in names)
    return block, ";".join(names)


@functools.lru_cache(maxsize=4)  # one key a day per credentials: four HMACs saved per request
def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_access_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclass(frozen=True, slots=True)
class Signature:
    """What signing added (the headers to send) and how it got there (for tests)."""

    headers: dict[str, str]
    canonical_request: str = field(repr=False)
    string_to_sign: str = field(repr=False)
    signature: str


def sign(
    *,
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str,
    moment: datetime.datetime,
) -> Signature:
    """Sign one request. ``path`` is the URI path as sent (AWS encodes it once more for
    the canonical request, as for every service but S3); ``query`` holds decoded pairs;
    ``headers`` must hold Host. Returns X-Amz-Date, X-Amz-Security-Token (temporary credentials) and
    Authorization, to send alongside ``headers``."""
    stamp = amz_date(moment)
    added = {"X-Amz-Date": stamp}
    if credentials.session_token:
        added["X-Amz-Security-Token"] = credentials.session_token
    header_block, signed = canonical_headers([*headers, *added.items()])
    canonical_request = "\n".join(
        (
            method,
            quote(normalized_path(path), safe="/~"),
            canonical_query(query),
            header_block,
            signed,
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        (ALGORITHM, stamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
    )
    key = signing_key(credentials.secret_access_key, stamp[:8], region, service)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return Signature(added, canonical_request, string_to_sign, signature)
