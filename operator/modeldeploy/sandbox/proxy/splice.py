"""Bytes both ways between two TCP streams, with half-close, as a proxied connection needs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

_CHUNK = 64 * 1024
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Until `reader` ends, then half-close `writer` (the other direction may go on)."""
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, so the peer sees the connection refused rather than ended."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the peer: nothing to reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def splice(client: Streams, upstream: Streams) -> None:
    """Pipe until both directions ended; a failure of either side (a reset, a broken pipe)
    resets the other, as the peer would see through a real network path."""
    copies = [
        asyncio.create_task(_copy(client[0], upstream[1])),
        asyncio.create_task(_copy(upstream[0], client[1])),
    ]
    failed = True
    try:
        done, _ = await asyncio.wait(copies, return_when=asyncio.FIRST_EXCEPTION)
        failed = any(not task.cancelled() and task.exception() is not None for task in done)
    finally:
        for task in copies:
            task.cancel()
        await asyncio.gather(*copies, return_exceptions=True)
        for _, writer in (client, upstream):
            if failed:
                reset(writer)
            else:
                writer.close()
