"""The assembly layer: a validated scenario -> fully wired entities.

It is the only reader of the scenario schema below :mod:`netsim.sim`: radio, device,
compress, fl, learn, privacy, nodes, models and topologies take plain values or small
parameter objects of their own, and this package turns each section of the scenario into
them (``topology``, ``radio``, ``devices``, ``learning``), checks what the schema cannot
(``checks``, ``memory``) and wires the entities (``world``).
"""

from __future__ import annotations

from netsim.assembly.checks import preflight
from netsim.assembly.world import World, build_world

__all__ = ["World", "build_world", "preflight"]
