"""CycloneDDS participants on a chosen domain and network interface (torch-free).

Conventions (DESIGN.md §3, g1_spec §1.5): domain 0 and the robot's NIC on the real G1; domain 1
on loopback for simulation; tests use loopback and their own domain id so that parallel runs never
see each other and no DDS traffic leaves the machine.

Cyclone 0.10.2 needs an explicit peer when multicast is off, hence the ``Peers`` block
(reference/environment.md, "CycloneDDS").
"""

from __future__ import annotations

import os
import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cyclonedds.domain import DomainParticipant

#: DDS domain ids (DESIGN.md §3).
ROBOT_DOMAIN_ID = 0
SIM_DOMAIN_ID = 1
#: Highest domain id a RTPS port mapping allows with the default port parameters.
MAX_DOMAIN_ID = 232

_IFACE_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def loopback_config_xml() -> str:
    """Cyclone XML that keeps all traffic on ``lo`` (no multicast, unicast peer 127.0.0.1).

    Works on Cyclone 0.10.2 and 11.x (reference/environment.md).
    """
    return (
        '<CycloneDDS xmlns="https://cdds.io/config"><Domain Id="any">'
        '<General><Interfaces><NetworkInterface name="lo"/></Interfaces>'
        "<AllowMulticast>false</AllowMulticast></General>"
        "<Discovery><ParticipantIndex>auto</ParticipantIndex>"
        "<MaxAutoParticipantIndex>32</MaxAutoParticipantIndex>"
        '<Peers><Peer Address="127.0.0.1"/></Peers></Discovery>'
        "</Domain></CycloneDDS>"
    )


def interface_config_xml(interface: str) -> str:
    """Cyclone XML that binds DDS to one network interface (the robot's NIC, e.g. ``enp3s0``).

    Raises:
        ValueError: ``interface`` is not a plausible interface name.
    """
    if not _IFACE_RE.match(interface):
        raise ValueError(f"network interface must be a name like 'enp3s0' or 'lo', got {interface!r}")
    if interface == "lo":
        return loopback_config_xml()
    return (
        '<CycloneDDS xmlns="https://cdds.io/config"><Domain Id="any">'
        f'<General><Interfaces><NetworkInterface name="{interface}" priority="default" '
        'multicast="default"/></Interfaces></General>'
        "</Domain></CycloneDDS>"
    )


def check_domain_id(domain_id: int) -> int:
    """Validate a DDS domain id.

    Raises:
        ValueError: not an int in [0, 232].
    """
    if isinstance(domain_id, bool) or not isinstance(domain_id, int) or not 0 <= domain_id <= MAX_DOMAIN_ID:
        raise ValueError(f"DDS domain id must be an integer in [0, {MAX_DOMAIN_ID}], got {domain_id!r}")
    return domain_id


#: Cyclone allows one configured Domain object per domain id and process; sessions share it.
_DOMAINS: dict[int, tuple[Any, str]] = {}
_DOMAINS_LOCK = threading.Lock()


def _configured_domain(domain_cls: Any, domain_id: int, config: str) -> Any:
    """The process-wide Domain for ``domain_id`` with ``config`` (created once, then shared).

    Raises:
        ValueError: the domain was already configured differently in this process.
    """
    with _DOMAINS_LOCK:
        known = _DOMAINS.get(domain_id)
        if known is not None:
            if known[1] != config:
                raise ValueError(
                    f"DDS domain {domain_id} is already configured differently in this process "
                    "(one network interface per domain and process)"
                )
            return known[0]
        domain = domain_cls(domain_id, config)
        _DOMAINS[domain_id] = (domain, config)
        return domain


class DdsSession:
    """A configured CycloneDDS domain and one participant on it.

    Keep the session alive as long as its readers and writers are used.

    Args:
        domain_id: DDS domain id, 0..232.
        interface: network interface name; ``"lo"`` selects the loopback-only configuration.
            ``None`` uses ``CYCLONEDDS_URI`` from the environment if set, else Cyclone's default.

    Raises:
        ValueError: bad domain id or interface name, or the domain was already configured with a
            different interface in this process (Cyclone allows one configuration per domain).
    """

    def __init__(self, domain_id: int, interface: str | None = None) -> None:
        from cyclonedds.domain import Domain, DomainParticipant

        self.domain_id = check_domain_id(domain_id)
        self.interface = interface
        if interface is not None:
            config = interface_config_xml(interface)
        else:
            config = os.environ.get("CYCLONEDDS_URI") or None
        self._domain = _configured_domain(Domain, self.domain_id, config) if config else None
        self.participant: DomainParticipant = DomainParticipant(self.domain_id)

    def __repr__(self) -> str:
        return f"DdsSession(domain_id={self.domain_id}, interface={self.interface!r})"
