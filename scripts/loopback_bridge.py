"""Keep a server that listens on every interface reachable from this machine only.

DynamoDB Local has no bind-address option. So scripts/run_dynamodb_local.sh runs it in a
network namespace of its own, whose only interface is a loopback no other machine can
reach, and this relay carries connections between the two, through a Unix socket (a file,
which both namespaces see):

    loopback_bridge.py inside SOCKET PORT -- COMMAND...
        in the new namespace: bring its loopback up, run COMMAND (the server, on PORT), and
        once it accepts connections relay each connection on SOCKET to 127.0.0.1:PORT;
    loopback_bridge.py outside PORT SOCKET
        on this machine: relay each connection to 127.0.0.1:PORT into SOCKET.
"""

from __future__ import annotations

import asyncio
import fcntl
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def bring_loopback_up() -> None:
    """A new network namespace starts with its loopback down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH14x", b"lo", 0)
        (flags,) = struct.unpack_from("H", fcntl.ioctl(probe, SIOCGIFFLAGS, request), 16)
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # a half-close: the other way may still carry the answer
    except (ConnectionError, OSError):
        writer.close()


def relay(connect: Callable[[], Awaitable[Streams]]) -> Callable[..., Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await connect()
        except OSError:
            writer.close()
            return
        await asyncio.gather(copy(reader, upstream_writer), copy(upstream_reader, writer))
        upstream_writer.close()
        writer.close()

    return handle


async def wait_for_port(port: int, server: subprocess.Popen[bytes]) -> None:
    while server.poll() is None:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise SystemExit(f"the server exited with status {server.returncode} before listening")


async def serve_inside(socket_path: str, port: int, command: list[str]) -> int:
    bring_loopback_up()
    server = subprocess.Popen(command)
    # Stopped by its parent: stop the server with it, or it would outlive the relay.
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        await wait_for_port(port, server)
        relay_server = await asyncio.start_unix_server(
            relay(lambda: asyncio.open_connection("127.0.0.1", port)), path=socket_path
        )
        async with relay_server:
            while server.poll() is None:
                await asyncio.sleep(0.2)
        return server.returncode
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait()


async def serve_outside(port: int, socket_path: str) -> None:
    relay_server = await asyncio.start_server(
        relay(lambda: asyncio.open_unix_connection(socket_path)), host="127.0.0.1", port=port
    )
    async with relay_server:
        await relay_server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) >= 5 and argv[0] == "inside" and argv[3] == "--":
        return asyncio.run(serve_inside(argv[1], int(argv[2]), argv[4:]))
    if len(argv) == 3 and argv[0] == "outside":
        asyncio.run(serve_outside(int(argv[1]), argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
