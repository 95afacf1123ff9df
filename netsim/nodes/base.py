"""Common plumbing of the entities: a name, a role and event logging at ``env.now``."""

from __future__ import annotations

from typing import Any

import simpy

from netsim.log import Event, EventLog


class Node:
    """Base of PIU, AccessPoint and Server (each a SimPy process of its own)."""

    role = "node"

    def __init__(self, env: simpy.Environment, name: str, log: EventLog) -> None:
        self.env = env
        self.name = name
        self._log = log

    def emit(self, event: str, round: int, **fields: Any) -> None:
        """Append an event of this node at the current simulated time."""
        self._log.emit(Event(float(self.env.now), round, self.name, self.role, event, **fields))
