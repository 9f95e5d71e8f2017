"""The pure parts of the Service proxy (routing table) and its byte pipe, in process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modeldeploy.sandbox.proxy.splice import reset, splice
from modeldeploy.sandbox.proxy.table import Frontend, ServicePort, frontends, ready_backends


def _service(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ml"}, "spec": spec}


def test_frontends_are_the_tcp_ports_of_services_with_a_cluster_ip() -> None:
    ports = [
        {"name": "http", "port": 80, "protocol": "TCP"},
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"port": 9090},
    ]
    services = [
        _service("web", {"clusterIP": "127.1.0.9", "ports": ports}),
        _service("headless", {"clusterIP": "None", "ports": ports}),
        _service("alias", {"type": "ExternalName", "externalName": "x.example", "ports": ports}),
        _service("pending", {"ports": ports}),
    ]
    assert frontends(services) == {
        Frontend("127.1.0.9", 80): ServicePort("ml", "web", "http"),
        Frontend("127.1.0.9", 9090): ServicePort("ml", "web", ""),
    }


def test_ready_backends_take_ready_addresses_at_the_port_of_the_same_name() -> None:
    endpoints = {
        "subsets": [
            {
                "addresses": [{"ip": "127.0.0.2"}, {"ip": "127.0.0.3"}],
                "notReadyAddresses": [{"ip": "127.0.0.4"}],
                "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9100}],
            },
            {"addresses": [{"ip": "127.0.0.5"}], "ports": [{"name": "http", "port": 8081}]},
            {"notReadyAddresses": [{"ip": "127.0.0.6"}], "ports": [{"name": "http", "port": 1}]},
        ]
    }
    assert ready_backends(endpoints, "http") == [
        ("127.0.0.2", 8080),
        ("127.0.0.3", 8080),
        ("127.0.0.5", 8081),
    ]
    assert ready_backends(endpoints, "metrics") == [("127.0.0.2", 9100), ("127.0.0.3", 9100)]
    assert ready_backends(endpoints, "other") == []
    assert ready_backends(None, "http") == []


async def _splice_through(upstream_handler: Any) -> tuple[int, int]:
    """A proxy server on a free port that splices to an upstream on another free port."""
    upstream = await asyncio.start_server(upstream_handler, "127.0.0.1", 0)
    upstream_port = upstream.sockets[0].getsockname()[1]

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await splice((reader, writer), await asyncio.open_connection("127.0.0.1", upstream_port))

    proxy = await asyncio.start_server(accepted, "127.0.0.1", 0)
    return proxy.sockets[0].getsockname()[1], upstream_port


def test_splice_passes_a_half_close_through() -> None:
    async def scenario() -> bytes:
        async def upper_case_after_eof(reader: asyncio.StreamReader, writer: Any) -> None:
            # Answers only once the client has finished sending: needs the half-close.
            writer.write((await reader.read()).upper())
            await writer.drain()
            writer.close()

        port, _ = await _splice_through(upper_case_after_eof)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello " * 50_000)
        await writer.drain()
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return answer

    assert asyncio.run(scenario()) == b"HELLO " * 50_000


def test_splice_resets_the_client_when_the_upstream_resets() -> None:
    async def scenario() -> None:
        async def reset_at_once(_reader: asyncio.StreamReader, writer: Any) -> None:
            reset(writer)

        port, _ = await _splice_through(reset_at_once)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 10)
        writer.close()

    asyncio.run(scenario())
