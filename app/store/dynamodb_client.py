"""A small DynamoDB client of the project's own: JSON over one HTTPS connection, signed
with AWS Signature Version 4 (app/store/sigv4.py), standard library only.

Why not boto3: the function makes two DynamoDB operations, and botocore was a third of
every cold start and most of each warm request's CPU (docs/performance.md). DynamoDB's
protocol is small and published: a POST of JSON with ``X-Amz-Target`` naming the
operation. Nothing here imports boto3 or botocore.

The seam (:class:`DynamoDBJson`): an operation name and its JSON request in, the JSON
answer or a typed :class:`DynamoDBError` out. app/store/dynamodb.py uses nothing else,
so a copier can put boto3's client behind the same seam (docs/performance.md).

- Credentials: the environment's keys, else the container credentials endpoint (what
  SnapStart functions get), refreshed before they expire. Neither: ConfigurationError.
- Endpoint: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, else the region's own (FIPS when
  AWS_USE_FIPS_ENDPOINT is true). What cannot be built is a ConfigurationError, never a guess.
- Transport: a persistent connection, reopened once when the server closed it while idle;
  TLS verified against Amazon's five roots, and the full system bundle if they fail.
- Errors and retries: what AWS's standard retry mode retries (throttling, transient
  errors, a wrong ``x-amz-crc32``), with exponential backoff and full jitter, while the
  attempts and the invocation's remaining time allow.
"""

from __future__ import annotations

import datetime
import http.client
import importlib.util
import ipaddress
import json
import os
import random
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from app.config import ConfigurationError
from app.store.sigv4 import Credentials, sign, signing_key

SERVICE = "dynamodb"
TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
USER_AGENT = "user-api (python stdlib sigv4)"
AMAZON_ROOTS = Path(__file__).with_name("amazon_roots.pem")

# AWS's standard retry mode (the SDKs' shared specification; botocore.retries.standard).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
)
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
THROTTLING_STATUSES = frozenset({429})
# Backoff scales: 1 s for throttling, 25 ms for DynamoDB's other retryable errors; cap 20 s.
THROTTLING_BACKOFF_S = 1.0
TRANSIENT_BACKOFF_S = 0.025
MAX_BACKOFF_S = 20.0
# The deployment is wrong (no table, no permission, bad or expired credentials): retrying
# cannot help and a 503 would hide it.
REFUSED_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)
# Credentials from the container endpoint are refreshed when less than this remains.
CREDENTIALS_REFRESH_S = 10 * 60
# The container endpoint may be plain HTTP only on these hosts (AWS's SDK rule).
CONTAINER_HTTP_HOSTS = frozenset({"169.254.170.2", "169.254.170.23", "fd00:ec2::23"})
ECS_CONTAINER_HOST = "http://169.254.170.2"
# Regions of the partitions this client can name endpoints for.
AWS_REGION_PATTERN = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$")
CHINA_REGION_PATTERN = re.compile(r"^cn-\w+-\d+$")
GOV_REGION_PATTERN = re.compile(r"^us-gov-\w+-\d+$")
# Time left for one more attempt after a backoff: past this the caller gets its 503 now.
DEADLINE_MARGIN_S = 0.5

# The invocation's remaining time in seconds, where known (set per request by the store).
remaining_time: ContextVar[Callable[[], float] | None] = ContextVar(
    "dynamodb_remaining_time", default=None
)


# ---------------------------------------------------------------- the seam


class DynamoDBError(Exception):
    """DynamoDB refused the request, or it could not be made. ``code`` is DynamoDB's
    error type ("ValidationException"), or a name for a failure of the transport."""

    def __init__(self, code: str, message: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.body: Mapping[str, Any] = body or {}


class ConditionalCheckFailed(DynamoDBError):
    """The condition refused the write; nothing changed. ``item`` is the item as it was,
    when the request asked for it (ReturnValuesOnConditionCheckFailure)."""

    @property
    def item(self) -> dict[str, Any] | None:
        item = self.body.get("Item")
        return item if isinstance(item, dict) else None


class DynamoDBUnavailable(DynamoDBError):
    """Not now: throttled, failing or unreachable, and the retries are spent. No attempt
    was applied, except possibly one whose answer never came (a timeout)."""


class DynamoDBRefused(DynamoDBError):
    """The deployment is wrong: no such table, an action the role lacks, bad credentials."""


class DynamoDBJson(Protocol):
    """What app/store/dynamodb.py needs of a DynamoDB client."""

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """The answer's JSON, or a DynamoDBError."""
        ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- credentials


class CredentialSource(Protocol):
    def credentials(self) -> Credentials: ...

    def forget(self) -> None:
        """Drop what is cached (after a SnapStart restore, or credentials refused)."""
        ...


class EnvironmentCredentials:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._credentials = Credentials(
            environ["AWS_ACCESS_KEY_ID"],
            environ["AWS_SECRET_ACCESS_KEY"],
            environ.get("AWS_SESSION_TOKEN") or None,
        )

    def credentials(self) -> Credentials:
        return self._credentials

    def forget(self) -> None:
        pass  # the environment is the source; nothing is cached beyond it


class ContainerCredentials:
    """The container credentials endpoint: a GET with the authorization token, answering
    AccessKeyId, SecretAccessKey, Token and Expiration. Fetched on first use."""

    def __init__(self, url: str, token: Callable[[], str | None], timeout: float) -> None:
        self.url = url
        self._token = token
        self._timeout = timeout
        self._lock = threading.Lock()
        self._cached: tuple[Credentials, float] | None = None

    def credentials(self) -> Credentials:
        with self._lock:
            cached = self._cached
            if cached is None or cached[1] - time.time() < CREDENTIALS_REFRESH_S:
                cached = self._cached = self._fetch()
            return cached[0]

    def forget(self) -> None:
        with self._lock:
            self._cached = None

    def _fetch(self) -> tuple[Credentials, float]:
        parts = urlsplit(self.url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.netloc, timeout=self._timeout)
        headers = {"Accept": "application/json"}
        token = self._token()
        if token:
            headers["Authorization"] = token
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise DynamoDBUnavailable("CredentialsUnavailable", repr(exc)) from exc
        finally:
            connection.close()
        if response.status != 200:
            raise DynamoDBRefused(
                "CredentialsRefused",
                f"the container credentials endpoint answered {response.status}",
            )
        try:
            data = json.loads(body)
            credentials = Credentials(data["AccessKeyId"], data["SecretAccessKey"], data["Token"])
            expires = datetime.datetime.fromisoformat(data["Expiration"]).timestamp()
        except (ValueError, KeyError, TypeError) as exc:
            raise DynamoDBRefused(
                "CredentialsRefused", "the container credentials endpoint answered no credentials"
            ) from exc
        return credentials, expires


def credential_source(environ: Mapping[str, str], timeout: float) -> CredentialSource:
    """The environment's keys, else the container endpoint; else a ConfigurationError."""
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return EnvironmentCredentials(environ)
    url = environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not url and environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        url = ECS_CONTAINER_HOST + environ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
    if url:
        check_container_url(url)
        return ContainerCredentials(url, lambda: container_token(environ), timeout)
    raise ConfigurationError(
        "no AWS credentials for DynamoDB: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        " (and AWS_SESSION_TOKEN), or AWS_CONTAINER_CREDENTIALS_FULL_URI with"
        " AWS_CONTAINER_AUTHORIZATION_TOKEN, as Lambda does"
    )


def container_token(environ: Mapping[str, str]) -> str | None:
    path = environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if path:
        return Path(path).read_text().strip()
    return environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")


def check_container_url(url: str) -> None:
    """HTTPS anywhere; plain HTTP only to loopback or the container hosts (AWS's SDK rule:
    the token must not cross a network)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    if parts.scheme == "http":
        if host in CONTAINER_HTTP_HOSTS or host == "localhost":
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
    raise ConfigurationError(
        f"AWS_CONTAINER_CREDENTIALS_FULL_URI {url!r} is not HTTPS, loopback or a container host"
    )


# ---------------------------------------------------------------- endpoint


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    region: str


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def endpoint(configured: str | None, environ: Mapping[str, str]) -> Endpoint:
    """Where requests go and the region they are signed for."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or ""
    url = configured or environ.get("AWS_ENDPOINT_URL_DYNAMODB") or environ.get("AWS_ENDPOINT_URL")
    if url:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ConfigurationError(f"DynamoDB endpoint {url!r} is not an http(s) URL")
        return Endpoint(url.rstrip("/"), region or "us-east-1")
    if not region:
        raise ConfigurationError("no AWS region: set AWS_REGION (Lambda sets it)")
    return Endpoint(regional_url(region, truthy(environ.get("AWS_USE_FIPS_ENDPOINT"))), region)


def regional_url(region: str, fips: bool) -> str:
    """DynamoDB's endpoint in the aws, aws-cn and aws-us-gov partitions."""
    if CHINA_REGION_PATTERN.match(region):
        if fips:
            raise ConfigurationError(f"DynamoDB has no FIPS endpoint in {region}")
        return f"https://dynamodb.{region}.amazonaws.com.cn"
    if AWS_REGION_PATTERN.match(region) or GOV_REGION_PATTERN.match(region):
        prefix = "dynamodb-fips" if fips else "dynamodb"
        return f"https://{prefix}.{region}.amazonaws.com"
    raise ConfigurationError(
        f"no DynamoDB endpoint known for region {region!r}: set AWS_ENDPOINT_URL_DYNAMODB"
    )


# ---------------------------------------------------------------- TLS


def amazon_roots_apply(url: str, region: str, ca_bundle: str | None) -> bool:
    """Amazon's roots first, unless a bundle is configured or the region is in China
    (other certificate authorities there)."""
    return (
        url.startswith("https://")
        and not ca_bundle
        and not region.startswith("cn-")
        and AMAZON_ROOTS.is_file()
    )


def first_tls_context(
    url: str, region: str, ca_bundle: str | None, fallback_cafile: str | None
) -> ssl.SSLContext:
    """AWS_CA_BUNDLE alone when set; else Amazon's five roots (cheap to load; AWS's
    endpoints chain to them); else the full bundle."""
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    if amazon_roots_apply(url, region, ca_bundle):
        return ssl.create_default_context(cafile=str(AMAZON_ROOTS))
    return full_bundle_context(fallback_cafile)


def full_bundle_context(cafile: str | None) -> ssl.SSLContext:
    """``cafile``, else the system's roots, else the bundle botocore ships in the runtime
    (located, not imported)."""
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    context = ssl.create_default_context()
    if context.cert_store_stats()["x509_ca"] == 0:
        spec = importlib.util.find_spec("botocore")
        for location in (spec and spec.submodule_search_locations) or []:
            bundle = Path(location) / "cacert.pem"
            if bundle.is_file():
                context.load_verify_locations(cafile=str(bundle))
    return context


def is_certificate_failure(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLCertVerificationError)


# ---------------------------------------------------------------- the client


class RetryableFailure(Exception):
    def __init__(self, error: DynamoDBError, throttled: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.throttled = throttled


# A reused keep-alive connection the server closed while it sat idle fails like this.
STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


class DynamoDBClient:
    """DynamoDB's JSON protocol over HTTPS. Thread-safe: each thread takes a connection
    from a small idle list (one, in a Lambda container, which runs one request at once)."""

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        connect_timeout: float,
        read_timeout: float,
        max_attempts: int,
        fallback_cafile: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.endpoint = endpoint(endpoint_url, environ)
        self.endpoint_url = self.endpoint.url
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.credentials = credential_source(environ, connect_timeout + read_timeout)
        parts = urlsplit(self.endpoint.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._host_header = parts.netloc
        self._path = parts.path or "/"
        self._fallback_cafile = fallback_cafile
        self._ca_bundle = environ.get("AWS_CA_BUNDLE") or None
        self._context: ssl.SSLContext | None = None  # built for the first connection
        self._may_widen = self._https and amazon_roots_apply(
            self.endpoint.url, self.endpoint.region, self._ca_bundle
        )
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self.widened = False  # Amazon's roots failed once; the full bundle is trusted now

    # -- the seam

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(request, separators=(",", ":")).encode()
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            try:
                return self._attempt(operation, body)
            except DynamoDBRefused as refused:
                # Container credentials revoked or expired early: fetch them again, once.
                renewable = isinstance(self.credentials, ContainerCredentials)
                if refused.code != "ExpiredTokenException" or not renewable or renewed:
                    raise
                self.credentials.forget()
                renewed = True
            except RetryableFailure as failure:
                delay = backoff(attempt, failure.throttled)
                if attempt >= self.max_attempts or not self._time_allows(delay):
                    raise DynamoDBUnavailable(
                        failure.error.code, failure.error.message, failure.error.body
                    ) from failure
                time.sleep(delay)

    def close(self) -> None:
        """Close every idle connection (a SnapStart restore, a fork, the end)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def reset(self) -> None:
        """Drop the connection and the cached credentials (after a SnapStart restore)."""
        self.close()
        self.credentials.forget()
        signing_key.cache_clear()  # derived from the secret key

    # -- one attempt

    def _time_allows(self, delay: float) -> bool:
        remaining = remaining_time.get()
        if remaining is None:
            return True
        needed = delay + self.connect_timeout + self.read_timeout + DEADLINE_MARGIN_S
        return remaining() > needed

    def _attempt(self, operation: str, body: bytes) -> dict[str, Any]:
        headers = [
            ("Host", self._host_header),
            ("Content-Type", CONTENT_TYPE),
            ("X-Amz-Target", TARGET_PREFIX + operation),
        ]
        signed = sign(
            method="POST",
            path=self._path,
            query=[],
            headers=headers,
            body=body,
            credentials=self.credentials.credentials(),
            region=self.endpoint.region,
            service=SERVICE,
            moment=datetime.datetime.now(datetime.UTC),
        )
        headers += [*signed.headers.items(), ("User-Agent", USER_AGENT)]
        headers.append(("Content-Length", str(len(body))))
        status, response_headers, answer = self._exchange(headers, body)
        return self._parsed(status, response_headers, answer)

    def _exchange(
        self, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request and its answer; a connection the server closed while idle is
        replaced and the request sent again, once (it never reached the server)."""
        connection, reused = self._take()
        try:
            try:
                return self._send(connection, headers, body)
            except STALE_CONNECTION_ERRORS:
                if not reused:
                    raise
                connection.close()
                connection, _ = self._open(), False
                return self._send(connection, headers, body)
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            return self._after_certificate_failure(exc, headers, body)
        except TimeoutError as exc:
            connection.close()
            raise RetryableFailure(DynamoDBError("Timeout", repr(exc)), throttled=False) from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise RetryableFailure(
                DynamoDBError("ConnectionFailed", repr(exc)), throttled=False
            ) from exc

    def _after_certificate_failure(
        self, exc: ssl.SSLCertVerificationError, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Amazon's roots did not cover the server: trust the full bundle from now on and
        send again (a failed handshake sent nothing). Otherwise the failure stands."""
        with self._lock:
            if not self._may_widen or self.widened:
                raise DynamoDBRefused("CertificateVerifyFailed", str(exc)) from exc
            self._context = full_bundle_context(self._fallback_cafile)
            self.widened = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        connection = self._open()
        try:
            return self._send(connection, headers, body)
        except ssl.SSLCertVerificationError as again:
            connection.close()
            raise DynamoDBRefused("CertificateVerifyFailed", str(again)) from again

    def _send(
        self, connection: http.client.HTTPConnection, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        if connection.sock is None:
            self._connect(connection)
        connection.putrequest("POST", self._path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        answer = response.read()
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return response.status, response.headers, answer

    def _connect(self, connection: http.client.HTTPConnection) -> None:
        connection.timeout = self.connect_timeout
        connection.connect()
        assert connection.sock is not None
        connection.sock.settimeout(self.read_timeout)
        # http.client writes the headers and the body separately: without this, Nagle's
        # algorithm holds the body back until the server acknowledges the headers.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._open(), False

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.append(connection)

    def _open(self) -> http.client.HTTPConnection:
        if not self._https:
            return http.client.HTTPConnection(self._host, self._port, timeout=self.connect_timeout)
        with self._lock:
            if self._context is None:
                self._context = first_tls_context(
                    self.endpoint.url, self.endpoint.region, self._ca_bundle, self._fallback_cafile
                )
            context = self._context
        return http.client.HTTPSConnection(
            self._host, self._port, timeout=self.connect_timeout, context=context
        )

    # -- the answer

    def _parsed(
        self, status: int, headers: http.client.HTTPMessage, answer: bytes
    ) -> dict[str, Any]:
        expected = headers.get("x-amz-crc32")
        if expected is not None and expected.strip() != str(zlib.crc32(answer)):
            raise RetryableFailure(
                DynamoDBError("Crc32Mismatch", "the answer's x-amz-crc32 does not match"),
                throttled=False,
            )
        try:
            data = json.loads(answer) if answer else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {}
            if status == 200:
                raise RetryableFailure(
                    DynamoDBError("MalformedAnswer", "the answer is not a JSON object"),
                    throttled=False,
                )
        if status == 200:
            return data
        raise error_for(status, data)


def error_for(status: int, data: Mapping[str, Any]) -> Exception:
    """DynamoDB's error answer as a typed error, or a RetryableFailure to try again."""
    code = str(data.get("__type") or f"HTTP{status}").rpartition("#")[2]
    message = str(data.get("message") or data.get("Message") or "")
    if code == "ConditionalCheckFailedException":
        return ConditionalCheckFailed(code, message, data)
    if code in THROTTLING_CODES or status in THROTTLING_STATUSES:
        return RetryableFailure(DynamoDBError(code, message, data), throttled=True)
    if code in TRANSIENT_CODES or status in TRANSIENT_STATUSES:
        return RetryableFailure(DynamoDBError(code, message, data), throttled=False)
    if code in REFUSED_CODES or status == 403:
        return DynamoDBRefused(code, message, data)
    return DynamoDBError(code, message, data)


def backoff(attempt: int, throttled: bool) -> float:
    """Full jitter: random in [0, scale * 2^(attempt - 1)), capped (attempt counts from 1)."""
    scale = THROTTLING_BACKOFF_S if throttled else TRANSIENT_BACKOFF_S
    return random.random() * min(scale * 2.0 ** (attempt - 1), MAX_BACKOFF_S)
