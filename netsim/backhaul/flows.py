"""Flow-level sharing of a routed backhaul: max-min fair rates by progressive filling.

Every transfer is a fluid flow along its route (a list of directed links). While the set of
flows is unchanged, each flow's rate is constant: the max-min fair allocation, found by
progressive filling (PHYSICS.md section 10): raise every unfrozen flow's rate equally
until a link saturates or a flow reaches its demand, freeze those flows, repeat. Rates are
recomputed whenever a flow starts or ends, and each flow's bits integrate exactly over the
piecewise-constant rate; the last bit then propagates along the route (the sum of its
links' latencies). A flow with a finite ``demand_bps`` (background traffic at a constant
bit rate) takes at most that.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    import pandas as pd

Link = Hashable  # a directed link's key, e.g. ("ap0", "sw0")


def max_min_rates(
    routes: Sequence[Sequence[Link]],
    capacity_bps: dict[Link, float],
    demand_bps: Sequence[float] | None = None,
) -> list[float]:
    """The max-min fair rate (bit/s) of each flow: ``routes[i]`` the links flow ``i``
    crosses, ``capacity_bps`` each link's capacity, ``demand_bps[i]`` its cap (default
    none). Progressive filling: all unfrozen flows grow equally until a link is full or a
    flow reaches its demand; those flows freeze; repeat until every flow is frozen."""
    n = len(routes)
    demand = [math.inf] * n if demand_bps is None else list(demand_bps)
    rate = [0.0] * n
    left = {link: capacity_bps[link] for route in routes for link in route}
    active = {i for i in range(n) if routes[i]}
    for i in range(n):
        if not routes[i]:  # a transfer within one node: no link limits it
            rate[i] = demand[i]
    while active:
        users: dict[Link, int] = {}
        for i in active:
            for link in routes[i]:
                users[link] = users.get(link, 0) + 1
        step = min(min(left[link] / k for link, k in users.items()),
                   min(demand[i] - rate[i] for i in active))  # fmt: skip
        for i in active:
            rate[i] += step
        for link, k in users.items():
            left[link] -= step * k
        full = {link for link in users if left[link] <= 1e-12 * capacity_bps[link]}
        done = {i for i in active if rate[i] >= demand[i] * (1 - 1e-12)}
        done |= {i for i in active if any(link in full for link in routes[i])}
        active -= done
    return rate


@dataclass(eq=False)
class Flow:
    """A transfer in progress: its route, bits still to send, current rate (bit/s) and the
    event succeeded when its last bit has arrived (value: the time it took, s)."""

    route: tuple[Link, ...]
    bits: float
    demand_bps: float
    latency_s: float
    t_start_s: float
    done: simpy.Event
    left_bits: float = 0.0
    rate_bps: float = 0.0
    ended: bool = field(default=False)


class FlowNetwork:
    """Directed links with capacities (bit/s) and latencies (s), shared by the flows on
    them at max-min fair rates.

    ``start(route, bits)`` sends ``bits`` along ``route`` (a sequence of link keys);
    ``start(route, math.inf, demand_bps=r)`` is background traffic at rate ``r`` until
    :meth:`stop`. One SimPy timer per change of the flow set; no events while idle.
    """

    def __init__(
        self, env: simpy.Environment, capacity_bps: dict[Link, float], latency_s: dict[Link, float]
    ) -> None:
        self.env = env
        self.capacity_bps = dict(capacity_bps)
        self.latency_s = dict(latency_s)
        self.flows: list[Flow] = []
        self._updated_s = 0.0
        self._generation = 0
        self.carried_bits: dict[Link, float] = dict.fromkeys(capacity_bps, 0.0)
        # each link's load from now on, whenever it changes: (t_s, link, FL transfers'
        # bit/s, background traffic's bit/s), piecewise constant (link_loads() tabulates)
        self.load_changes: list[tuple[float, Link, float, float]] = []
        self._load: dict[Link, tuple[float, float]] = {}

    def start(
        self, route: Sequence[Link] | None, bits: float, demand_bps: float = math.inf
    ) -> Flow:
        """A new flow of ``bits`` along ``route``; its ``done`` event fires when the last
        bit has crossed the route (serialisation at its share, then the links' latency).
        ``route`` None: it has no path yet and waits (:meth:`reroute` sends it)."""
        for link in route or ():
            if link not in self.capacity_bps:
                raise KeyError(f"no backhaul link {link!r}")
        self._advance()
        flow = Flow((), float(bits), demand_bps, 0.0, self.env.now, self.env.event())
        flow.left_bits = float(bits)
        if route is not None:
            self._place(flow, route)
        self._reshare()
        return flow

    def _place(self, flow: Flow, route: Sequence[Link]) -> None:
        flow.route = tuple(route)
        flow.latency_s = sum(self.latency_s[link] for link in route)
        self.flows.append(flow)

    def reroute(self, flow: Flow, route: Sequence[Link] | None) -> None:
        """Move ``flow``'s remaining bits onto ``route`` (a link of its old one failed);
        None parks it (no path: it waits, rate 0, until rerouted again)."""
        self._advance()
        if flow in self.flows:
            self.flows.remove(flow)
        flow.rate_bps = 0.0
        if route is not None:
            self._place(flow, route)
        self._reshare()

    def carried(self) -> dict[Link, float]:
        """Bits each link has carried so far (up to now)."""
        self._advance()
        return dict(self.carried_bits)

    def stop(self, flow: Flow) -> None:
        """Withdraw ``flow`` (background traffic ending, a sender giving up)."""
        if flow.ended:
            return
        self._advance()
        flow.ended = True
        if flow in self.flows:  # else parked (no path): nothing to take off the links
            self.flows.remove(flow)
        self._reshare()

    def _advance(self) -> None:
        """Serve every flow's bits from the last change until now."""
        dt = self.env.now - self._updated_s
        if dt > 0:
            for f in self.flows:
                sent = min(f.left_bits, f.rate_bps * dt)
                f.left_bits -= sent
                for link in f.route:
                    self.carried_bits[link] += sent
        self._updated_s = self.env.now

    def _reshare(self) -> None:
        """New max-min rates; a timer for the next flow to finish."""
        rates = max_min_rates(
            [f.route for f in self.flows], self.capacity_bps, [f.demand_bps for f in self.flows]
        )
        for f, r in zip(self.flows, rates, strict=True):
            f.rate_bps = r
        self._record_loads()
        self._generation += 1
        ends = [f.left_bits / f.rate_bps for f in self.flows if f.rate_bps > 0]
        if ends and min(ends) < math.inf:
            timer = self.env.timeout(min(ends))
            generation = self._generation
            timer.callbacks.append(lambda _: self._finish_due(generation))

    def _record_loads(self) -> None:
        """Note each link whose load changed at this reshare (transfers and background
        traffic apart: a background flow sends forever, ``bits`` infinite)."""
        load: dict[Link, list[float]] = {}
        for f in self.flows:
            part = 1 if math.isinf(f.bits) else 0
            for link in f.route:
                load.setdefault(link, [0.0, 0.0])[part] += f.rate_bps
        now = float(self.env.now)
        for link in list(self._load):
            if link not in load:  # idle from now on
                load[link] = [0.0, 0.0]
        for link, (fl, background) in load.items():
            if self._load.get(link, (0.0, 0.0)) != (fl, background):
                self.load_changes.append((now, link, fl, background))
                self._load[link] = (fl, background)
            if fl == 0.0 and background == 0.0:
                self._load.pop(link, None)

    def _finish_due(self, generation: int) -> None:
        if generation != self._generation:  # the flow set changed since: a newer timer
            return
        self._advance()
        finished = [
            f
            for f in self.flows
            if math.isfinite(f.bits) and f.left_bits <= 1e-9 * max(f.bits, 1.0)
        ]
        for f in finished:
            f.ended = True
            self.flows.remove(f)
            self._arrive(f)
        self._reshare()

    def _arrive(self, f: Flow) -> None:
        """The last bit left the first link: it arrives after the route's latency."""
        timer = self.env.timeout(f.latency_s)
        took = self.env.now + f.latency_s - f.t_start_s

        def arrived(_: simpy.Event) -> None:
            f.done.succeed(took)

        timer.callbacks.append(arrived)


LOAD_COLUMNS = ["link", "src", "dst", "t_start_s", "t_end_s", "fl_bps", "background_bps",
                "capacity_bps", "utilisation"]  # fmt: skip


def link_loads(network: FlowNetwork, end_s: float) -> pd.DataFrame:
    """Per directed link, its load over time up to ``end_s`` (s): one row per interval of
    constant load (columns :data:`LOAD_COLUMNS`): ``link`` "src>dst", the FL transfers'
    rate ``fl_bps`` and the background traffic's ``background_bps`` (bit/s, max-min shares),
    ``capacity_bps`` and ``utilisation`` (their sum over the capacity). Idle intervals
    after a busy one are rows of 0; a link never used has no row."""
    import pandas as pd

    rows = []
    changes = sorted(network.load_changes, key=lambda c: (str(c[1]), c[0]))  # stable in t
    for i, (t, link, fl, background) in enumerate(changes):
        nxt = changes[i + 1] if i + 1 < len(changes) else None
        t_end = nxt[0] if nxt is not None and nxt[1] == link else max(end_s, t)
        if t_end <= t:
            continue
        src, dst = link if isinstance(link, tuple) else (str(link), "")
        capacity = network.capacity_bps[link]
        rows.append((f"{src}>{dst}", str(src), str(dst), t, t_end, fl, background, capacity,
                     (fl + background) / capacity))  # fmt: skip
    table = pd.DataFrame(rows, columns=LOAD_COLUMNS)
    for column in ("link", "src", "dst"):
        table[column] = table[column].astype("string")
    return table
