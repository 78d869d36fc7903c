"""Client address allow-lists: a comma-separated list of addresses and CIDR networks, and who is in it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


class AddressList:
    """Addresses and networks (IPv4 and IPv6); ``str()`` gives back the list as it was written."""

    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self.networks = tuple(networks)

    def __contains__(self, address: object) -> bool:
        """Whether ``address`` (a string such as request.remote_addr) lies in one of the networks."""
        if not isinstance(address, str) or not address:
            return False
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") is not part of it
        except ValueError:
            return False
        # ::ffff:127.0.0.1 is how a dual-stack socket reports an IPv4 client.
        mapped = getattr(ip, "ipv4_mapped", None)
        return any(
            candidate in network
            for candidate in (ip, mapped)
            if candidate is not None
            for network in self.networks
            if candidate.version == network.version
        )

    def __str__(self) -> str:
        return ",".join(str(net.network_address) if net.num_addresses == 1 else str(net) for net in self.networks)

    def __repr__(self) -> str:
        return f"AddressList({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AddressList) and self.networks == other.networks

    def __hash__(self) -> int:
        return hash(self.networks)


def parse_address_list(name: str, raw: str, error: type[Exception] = ValueError) -> AddressList:
    """'127.0.0.1, ::1, 10.0.0.0/8' -> AddressList; raises ``error`` naming the entry that is not one."""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise error(f"{name} has {item!r}; list IP addresses or networks, e.g. 127.0.0.1,::1,10.0.0.0/8") from None
    return AddressList(networks)
