"""Per-pod loopback addresses: 127.0.0.2, 127.0.0.3, ... (all of 127/8 reaches this host),
never one of the Service range (`sandbox/network.py`), and never one that a process on this
host already listens on: two sandboxes on one machine share its network stack, where two
clusters would not."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from modeldeploy.sandbox.network import SERVICE_NETWORK

_FIRST = int(ipaddress.IPv4Address("127.0.0.2"))
_LAST = int(ipaddress.IPv4Address("127.255.255.254"))
_SERVICES_FIRST = int(SERVICE_NETWORK.network_address)
_SERVICES_LAST = int(SERVICE_NETWORK.broadcast_address)


_LISTEN = "0A"
TCP_TABLE = Path("/proc/net/tcp")


def listening_addresses(table: Path = TCP_TABLE) -> set[int]:
    """IPv4 addresses with a listening TCP socket on this host (from /proc/net/tcp)."""
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return set()
    found = set()
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == _LISTEN:
            local = fields[1].split(":")[0]
            found.add(int.from_bytes(bytes.fromhex(local), "little"))
    return found


def _usable(address: int) -> bool:
    return (
        _FIRST <= address <= _LAST
        and not _SERVICES_FIRST <= address <= _SERVICES_LAST
        and address & 0xFF not in (0, 255)
    )


class PodAddresses:
    """Hands out one address per pod uid; an address is reused only after its pod is gone."""

    def __init__(self) -> None:
        self._by_uid: dict[str, int] = {}
        self._taken: set[int] = set()
        self._next = _FIRST

    def allocate(self, uid: str, preferred: str = "") -> str:
        if uid in self._by_uid:
            return str(ipaddress.IPv4Address(self._by_uid[uid]))
        wanted = int(ipaddress.IPv4Address(preferred)) if preferred.startswith("127.") else 0
        if not _usable(wanted) or wanted in self._taken:
            wanted = self._free()
        self._by_uid[uid] = wanted
        self._taken.add(wanted)
        return str(ipaddress.IPv4Address(wanted))

    def _free(self) -> int:
        busy = listening_addresses()
        for _ in range(_LAST - _FIRST + 1):
            candidate = self._next
            self._next = _FIRST if candidate >= _LAST else candidate + 1
            if candidate in self._taken or candidate in busy or not _usable(candidate):
                continue
            return candidate
        raise RuntimeError("no free pod address left in 127.0.0.0/8")

    def release(self, uid: str) -> None:
        address = self._by_uid.pop(uid, None)
        if address is not None:
            self._taken.discard(address)
