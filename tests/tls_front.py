"""HTTPS in front of a local plain-HTTP server, with a test CA made on the spot.

AWS's DynamoDB endpoints are HTTPS only, and the first TLS connection (handshake and
loading the trusted roots) is part of a real cold start; the local DynamoDB servers
speak plain HTTP. ``tls_front`` terminates TLS on 127.0.0.1 with a certificate for
127.0.0.1 signed by a CA that exists only for this run, and relays the bytes to the
upstream server. Clients trust the CA through ``AWS_CA_BUNDLE`` or ``verify=``.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import trustme


@dataclass(frozen=True)
class LocalCA:
    ca_pem: Path  # the CA certificate, to trust
    cert_pem: Path  # the server's certificate for 127.0.0.1
    key_pem: Path


def make_test_ca(directory: Path, name: str = "Local DynamoDB test CA") -> LocalCA:
    """A CA (trustme's) and its certificate for 127.0.0.1, written as PEM files."""
    ca = trustme.CA(organization_name=name)
    issued = ca.issue_cert("127.0.0.1")
    directory.mkdir(parents=True, exist_ok=True)
    local_ca = LocalCA(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(local_ca.ca_pem))
    issued.cert_chain_pems[0].write_to_path(str(local_ca.cert_pem))
    issued.private_key_pem.write_to_path(str(local_ca.key_pem))
    return local_ca


def bundle_with(local_ca: LocalCA, base_bundle: Path, into: Path) -> Path:
    """A CA bundle file: ``base_bundle``'s roots plus the test CA (so loading it costs
    what loading the real bundle costs)."""
    into.write_bytes(base_bundle.read_bytes().rstrip(b"\n") + b"\n" + local_ca.ca_pem.read_bytes())
    return into


@contextmanager
def tls_front(upstream_url: str, local_ca: LocalCA) -> Iterator[str]:
    """https://127.0.0.1:PORT relaying to ``upstream_url`` (http://host:port)."""
    upstream = urlsplit(upstream_url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(local_ca.cert_pem, local_ca.key_pem)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    open_sockets: set[socket.socket] = set()
    lock = threading.Lock()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def serve(client: socket.socket) -> None:
        try:
            secure = context.wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError):  # a client that refused our certificate
            client.close()
            return
        try:
            backend = socket.create_connection((upstream.hostname, upstream.port), timeout=10)
        except OSError:
            secure.close()
            return
        # Small writes (headers, then body) must not wait for delayed ACKs (Nagle).
        for sock in (secure, backend):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with lock:
            open_sockets.update((secure, backend))
        back = threading.Thread(target=pipe, args=(backend, secure), daemon=True)
        back.start()
        pipe(secure, backend)
        back.join()
        secure.close()
        backend.close()
        with lock:
            open_sockets.difference_update((secure, backend))

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            thread = threading.Thread(target=serve, args=(client,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(timeout=2)
        listener.close()
        with lock:
            for sock in open_sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=2)
