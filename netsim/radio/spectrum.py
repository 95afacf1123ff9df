"""Frequency plans: which channel each AP uses (PHYSICS.md section 8, frequency reuse).

With reuse N the system band is split into N channels. A plan's quality is its co-channel
distance: the shortest distance between two APs on the same channel, on a layout with
wrap-around measured to the nearest image. :func:`assign_channels` ranks plans by

1. the co-channel distance, larger first;
2. then the channels' loads (APs per channel): differing by at most one where a plan of that
   distance allows it, else the fullest channel as light as that distance allows and then
   the emptiest as full as it allows;
3. then a deterministic choice: the greedy colouring's plan where it is already best, else
   the first plan a fixed-order search meets.

An exact search (branch and bound over colourings of the AP conflict graph, below) finds the
best plan, with a proof, on layouts of up to :data:`EXACT_MAX_APS` APs when each of its
searches finishes within :data:`SEARCH_NODES` nodes. It does for every single-sector
hexagonal layout (7 or 19 sites, with or without wrap-around, every N) and every 7-site one
with 3 sectors (on 19 sites with wrap-around and reuse 7: co-channel sites 2 ISD apart, the
most the 19-site wrap-around allows, loads [2, 2, 3, 3, 3, 3, 3]). On 19 sites with 3 sectors
some N run out of nodes (without wrap-around 13, 21-26, 37, 38; with it 11-20, 22-24) and keep
the best plan proven so far, which may fall short on distance or loads (with wrap-around and
N = 16 co-channel sites stay 1 ISD apart where a longer search finds sqrt(3) ISD);
:attr:`Plan.optimal` says which. Larger layouts keep the greedy colouring's plan, with no
guarantee on distance or loads.

Sectors of one site (APs at one position, distance 0) are APs like any other: they get
different channels whenever N is at least the number of co-sited APs (any plan that puts
two on one channel has co-channel distance 0); with fewer channels every plan has distance 0
and only the loads are ranked.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

EXACT_MAX_APS = 64
"""Layouts of up to this many APs get the exact search (the hexagonal ones have at most 57)."""

SEARCH_NODES = 20_000
"""Nodes one branch-and-bound search may visit before it gives up (a count, not a time, so the
plan is the same on every machine)."""


@dataclass(frozen=True)
class Plan:
    """A frequency plan and what is known of it.

    channels: (A,) int, the channel of each AP in ``range(n_channels)``.
    distance_m: its co-channel distance (m; inf when no two APs share a channel).
    optimal: True when the search proved that no plan has a larger co-channel distance and
        that no plan of this distance ranks better on loads (the ranking of the module
        docstring); False when a search ran out of nodes or the layout was too large.
    """

    channels: np.ndarray
    distance_m: float
    optimal: bool


def distances_m(ap_xy: np.ndarray, wrap_offsets_m: np.ndarray | None = None) -> np.ndarray:
    """(A, A) distances between APs at ``ap_xy`` (A, 2) m; with wrap-around images
    ``wrap_offsets_m`` (S, 2), to the nearest image."""
    diff = ap_xy[:, None, :] - ap_xy[None, :, :]  # (A, A, 2)
    if wrap_offsets_m is None:
        return np.linalg.norm(diff, axis=-1)
    images = diff[:, :, None, :] - wrap_offsets_m[None, None, :, :]
    return np.linalg.norm(images, axis=-1).min(axis=2)


def assign_channels(
    ap_xy: np.ndarray, n_channels: int, wrap_offsets_m: np.ndarray | None = None
) -> np.ndarray:
    """(A,) channel of each AP, in ``range(n_channels)``: the plan of :func:`frequency_plan`
    (the best by the module docstring's ranking where its search finishes)."""
    return frequency_plan(ap_xy, n_channels, wrap_offsets_m).channels


def frequency_plan(
    ap_xy: np.ndarray, n_channels: int, wrap_offsets_m: np.ndarray | None = None
) -> Plan:
    """The frequency plan of APs at ``ap_xy`` (A, 2) m with ``n_channels`` channels and
    wrap-around images ``wrap_offsets_m`` (S, 2) m (None: no wrap-around).

    A greedy colouring (networkx, largest-first and saturation orders) gives a first plan
    and its co-channel distance d. With at most :data:`EXACT_MAX_APS` APs, an exact search
    then asks, for each larger pairwise distance D in turn, whether a plan keeps every
    co-channel pair at least D apart (an N-colouring of the graph joining APs closer than
    D), until one is proven impossible; the largest D found is optimal. At that distance it
    searches for balanced loads (at most one apart), else for the smallest largest load and
    then the largest smallest one. The greedy plan is kept when the search finds it already
    optimal (same distance, loads at most one apart). Each search is a DSatur branch and
    bound: channels tried in increasing order, a new channel only as the next unused one,
    co-sited APs (interchangeable) in increasing channel order; it stops after
    :data:`SEARCH_NODES` nodes, and the plan then is the best proven so far.
    """
    n_aps = len(ap_xy)
    if n_channels == 1 or n_aps <= 1:
        channels = np.zeros(n_aps, dtype=int)
        return Plan(channels, min_cochannel_distance_m(channels, ap_xy, wrap_offsets_m), True)
    dist = np.round(distances_m(ap_xy, wrap_offsets_m), 6)  # equal distances compare equal
    greedy = _greedy(dist, n_channels)
    reach = _cochannel(greedy, dist)
    if n_aps > EXACT_MAX_APS:
        return Plan(greedy, reach, False)
    search = _Search(dist, ap_xy, n_channels)
    pairs = np.unique(dist[np.triu_indices(n_aps, k=1)])
    proven = True
    for d in [*pairs[pairs > reach], np.inf]:
        found = search.run(d)
        if found is None:  # no plan keeps co-channel APs d apart: reach is optimal
            break
        if found is _OUT_OF_NODES:
            proven = False
            break
        greedy, reach = found, _cochannel(found, dist)
    if _balanced(greedy, n_channels):
        return Plan(greedy, reach, proven)
    channels, loads_proven = search.balance(reach, greedy)
    return Plan(channels, reach, proven and loads_proven)


def min_cochannel_distance_m(
    channels: np.ndarray, ap_xy: np.ndarray, wrap_offsets_m: np.ndarray | None = None
) -> float:
    """The shortest distance (m) between two APs on the same channel (inf if none)."""
    return _cochannel(channels, distances_m(ap_xy, wrap_offsets_m))


def _cochannel(channels: np.ndarray, dist: np.ndarray) -> float:
    same = (channels[:, None] == channels[None, :]) & ~np.eye(len(channels), dtype=bool)
    return float(dist[same].min()) if same.any() else float("inf")


def _balanced(channels: np.ndarray, n_channels: int) -> bool:
    load = np.bincount(channels, minlength=n_channels)
    return bool(load.max() - load.min() <= 1)


def _greedy(dist: np.ndarray, n_channels: int) -> np.ndarray:
    """The greedy plan: for growing d, APs at most d apart are joined and the graph coloured
    with networkx (largest-first and saturation orders, the better kept); the largest d
    still coloured with ``n_channels`` colours wins (co-channel APs farther apart than d).
    APs then move from the fullest channel to the emptiest while that keeps the plan's
    co-channel distance (which may leave the loads more than one apart)."""
    n_aps = len(dist)
    best, reach = np.zeros(n_aps, dtype=int), -1.0  # one channel: no pair apart
    for d in np.unique(dist[np.triu_indices(n_aps, k=1)]):
        colours = _colour(dist <= d, n_channels)
        if colours is None:
            break
        best, reach = colours, float(d)
    return _balance(best, dist <= reach, n_channels)


def _colour(conflict: np.ndarray, n_channels: int) -> np.ndarray | None:
    """A colouring of the conflict graph (A, A) bool with at most ``n_channels`` colours,
    or None if the greedy orders need more."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(conflict)))
    graph.add_edges_from(map(tuple, np.argwhere(np.triu(conflict, k=1))))
    for strategy in ("largest_first", "saturation_largest_first"):
        colours = nx.greedy_color(graph, strategy=strategy)
        if max(colours.values()) + 1 <= n_channels:
            return np.array([colours[a] for a in range(len(conflict))])
    return None


def _balance(channels: np.ndarray, conflict: np.ndarray, n_channels: int) -> np.ndarray:
    """Move APs from the fullest channel to the emptiest while no conflicting AP is there,
    until the loads differ by at most one or no AP can move."""
    channels = channels.copy()
    np.fill_diagonal(conflict := conflict.copy(), False)
    while True:
        load = np.bincount(channels, minlength=n_channels)
        full, empty = int(load.argmax()), int(load.argmin())
        if load[full] - load[empty] <= 1:
            return channels
        movable = [
            a
            for a in np.flatnonzero(channels == full)
            if not (conflict[a] & (channels == empty)).any()
        ]
        if not movable:
            return channels
        channels[movable[-1]] = empty


class _OutOfNodes(Exception):
    pass


_OUT_OF_NODES = np.zeros(0, dtype=int)  # what run() returns when the search gave up


class _Search:
    """DSatur branch and bound over N-colourings of the graph joining APs closer than a
    distance D, optionally with each channel's load in [low, high] and at most ``n_high``
    channels at ``high``.

    Symmetries broken (each keeps at least one plan of every load profile, so a failed
    search proves that none exists): channels are interchangeable, so an AP takes a channel
    already in use or the next unused one; co-sited APs are interchangeable, so each takes a
    channel no lower than (joined: above) those of its co-sited APs coloured before it.
    """

    def __init__(self, dist: np.ndarray, ap_xy: np.ndarray, n_channels: int) -> None:
        self.dist, self.n = dist, n_channels
        n_aps = len(dist)
        self.twins = [
            [int(t) for t in np.flatnonzero((ap_xy == ap_xy[a]).all(axis=1)) if t < a]
            for a in range(n_aps)
        ]

    def run(
        self, d: float, low: int = 0, high: int | None = None, n_high: int | None = None
    ) -> np.ndarray | None:
        """A plan with every co-channel pair at least ``d`` apart and loads in
        [``low``, ``high``] (at most ``n_high`` channels at ``high``); None if none exists,
        ``_OUT_OF_NODES`` if the search gave up."""
        conflict = (self.dist < d) & ~np.eye(len(self.dist), dtype=bool)
        adj = [sum(1 << int(b) for b in np.flatnonzero(row)) for row in conflict]
        state = _State(adj, self.twins, self.n, low, len(adj) if high is None else high, n_high)
        try:
            return np.array(state.colours) if state.extend(len(adj)) else None
        except _OutOfNodes:
            return _OUT_OF_NODES

    def balance(self, d: float, fallback: np.ndarray) -> tuple[np.ndarray, bool]:
        """The plan at distance ``d`` ranked best on loads, and whether that is proven
        (``fallback``, a plan at ``d``, where a search gives up first)."""
        n_aps = len(self.dist)
        q, r = divmod(n_aps, self.n)
        found = self.run(d, q, q + (r > 0), r if r else None)
        if found is not None:
            return (fallback, False) if found is _OUT_OF_NODES else (found, True)
        best = None  # the largest load: the smallest feasible above q + 1
        for high in range(q + 2, n_aps + 1):
            found = self.run(d, 0, high)
            if found is _OUT_OF_NODES:
                return fallback, False
            if found is not None:
                best = found
                break
        assert best is not None  # the search's distance has a plan
        high = int(np.bincount(best, minlength=self.n).max())
        for low in range(q, 0, -1):  # then the smallest load: the largest feasible
            found = self.run(d, low, high)
            if found is _OUT_OF_NODES:
                return best, False
            if found is not None:
                return found, True
        return best, True


class _State:
    """One branch-and-bound search (see :class:`_Search`); adjacency as bit masks."""

    def __init__(
        self,
        adj: list[int],
        twins: list[list[int]],
        n: int,
        low: int,
        high: int,
        n_high: int | None,
    ) -> None:
        self.adj, self.twins, self.n, self.low, self.high = adj, twins, n, low, high
        self.n_high = n if n_high is None else n_high
        self.colours = [-1] * len(adj)
        self.load = [0] * n
        self.saturation = [0] * len(adj)  # bit c: a coloured neighbour is on channel c
        self.degree = [a.bit_count() for a in adj]
        self.used = self.at_high = self.nodes = 0

    def _room(self, left: int) -> bool:
        """Whether ``left`` uncoloured APs can still meet the load bounds."""
        fill = sum(max(0, self.low - x) for x in self.load)
        below = sum(max(0, self.high - 1 - x) for x in self.load)
        can_top = sum(x < self.high for x in self.load)
        return fill <= left <= below + min(self.n_high - self.at_high, can_top)

    def extend(self, left: int) -> bool:
        if left == 0:
            return True
        self.nodes += 1
        if self.nodes > SEARCH_NODES:
            raise _OutOfNodes
        if not self._room(left):
            return False
        v = max(
            (a for a, c in enumerate(self.colours) if c < 0),
            key=lambda a: (self.saturation[a].bit_count(), self.degree[a], -a),
        )
        before = [self.colours[t] for t in self.twins[v] if self.colours[t] >= 0]
        joined = any(self.adj[v] >> t & 1 for t in self.twins[v])
        start = max(before, default=-1) + 1 if joined else max(before, default=0)
        used = self.used
        for c in range(start, min(used + 1, self.n)):
            if self.saturation[v] >> c & 1 or self.load[c] >= self.high:
                continue
            tops = self.load[c] == self.high - 1
            if tops and self.at_high >= self.n_high:
                continue
            self.colours[v], self.load[c], self.used = c, self.load[c] + 1, max(used, c + 1)
            self.at_high += tops
            bit, marked, rest = 1 << c, [], self.adj[v]
            while rest:
                u = (rest & -rest).bit_length() - 1
                rest &= rest - 1
                if self.colours[u] < 0 and not self.saturation[u] & bit:
                    self.saturation[u] |= bit
                    marked.append(u)
            if self.extend(left - 1):
                return True
            for u in marked:
                self.saturation[u] &= ~bit
            self.colours[v], self.load[c], self.used = -1, self.load[c] - 1, used
            self.at_high -= tops
        return False
