"""The generated top: the accelerator behind one of the host buses ``python -m gen --bus``
offers."""

from dataclasses import dataclass

from .accel import Accelerator
from .axil import AxiLiteAccelerator
from .wishbone import WishboneAccelerator


__all__ = ["HostBus", "HOST_BUSES", "host_bus"]


@dataclass(frozen=True)
class HostBus:
    """One way to reach the accelerator: its ``name`` (the ``--bus`` choice), a ``summary``
    for ``--help`` and the manifest, the ``component`` class of the top (made from an
    :class:`~hw.config.AccelConfig`), and whether its addresses are byte addresses
    (``byte_addressed``: word ``a`` of :class:`~hw.bus.BusSignature` at byte ``4 * a``) or
    the word bus's own."""
    name: str
    summary: str
    component: type
    byte_addressed: bool

    def top(self, cfg):
        """The top component for ``cfg``."""
        return self.component(cfg)


#: The host buses, by name; the first is the default.
HOST_BUSES = {bus.name: bus for bus in (
    HostBus("native", "the word bus hw.bus.BusSignature (bus__addr, ...): word addresses, "
            "reads answered BUS_READ_LATENCY cycles later, no handshake",
            Accelerator, byte_addressed=False),
    HostBus("wishbone", "a Wishbone B4 pipelined slave (wb_adr, ...): byte addresses",
            WishboneAccelerator, byte_addressed=True),
    HostBus("axi-lite", "an AXI4-Lite slave (s_axil_awaddr, ...): byte addresses",
            AxiLiteAccelerator, byte_addressed=True),
)}


def host_bus(name):
    """The :class:`HostBus` called ``name``; :class:`ValueError` for an unknown one, and
    :class:`TypeError` for a name that is not a string."""
    if not isinstance(name, str):
        raise TypeError(f"Bus name must be a string, not {name!r}")
    if name not in HOST_BUSES:
        raise ValueError(f"Unknown bus {name!r}: choose from {', '.join(HOST_BUSES)}")
    return HOST_BUSES[name]
