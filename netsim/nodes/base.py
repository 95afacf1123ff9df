"""Common plumbing of the entities: a name, a role and event logging at ``env.now``."""

from __future__ import annotations

from typing import Any

import simpy

from netsim.log import Event, EventLog

# Deadline events sort after every ordinary event at the same instant (SimPy orders by
# (time, priority, id); URGENT = 0, NORMAL = 1), so an update that arrives exactly at the
# deadline is on time.
_AFTER_NORMAL = simpy.events.EventPriority(simpy.events.NORMAL + 1)


class Deadline(simpy.Event):
    """A timeout that fires after all ordinary events scheduled for the same time."""

    def __init__(self, env: simpy.Environment, delay_s: float) -> None:
        super().__init__(env)
        self._ok = True  # a pre-triggered event, as simpy.Timeout does it
        self._value = None
        env.schedule(self, _AFTER_NORMAL, delay_s)


class Node:
    """Base of PIU, AccessPoint and Server (each a SimPy process of its own)."""

    role = "node"

    def __init__(self, env: simpy.Environment, name: str, log: EventLog) -> None:
        self.env = env
        self.name = name
        self._log = log

    def emit(self, event: str, round_index: int, **fields: Any) -> None:
        """Append an event of this node at the current simulated time."""
        self._log.emit(
            Event(float(self.env.now), round_index, self.name, self.role, event, **fields)
        )
