"""HTTPS in front of a local plain-HTTP server, with a test CA made on the spot.

AWS's DynamoDB endpoints are HTTPS only, and the first TLS connection (handshake and
loading the trusted roots) is part of a real cold start; the local DynamoDB servers
speak plain HTTP. ``tls_front`` terminates TLS on 127.0.0.1 with a certificate for
127.0.0.1 signed by a CA that exists only for this run, and relays the bytes to the
upstream server. Clients trust the CA through ``AWS_CA_BUNDLE`` or ``verify=``.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class LocalCA:
    ca_pem: Path  # the CA certificate, to trust
    cert_pem: Path  # the server's certificate for 127.0.0.1
    key_pem: Path


def make_test_ca(directory: Path, name: str = "Local DynamoDB test CA") -> LocalCA:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    local_ca = LocalCA(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    local_ca.ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    local_ca.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    local_ca.key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
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
