"""Frequency plans: which channel each AP uses (PHYSICS.md section 8, frequency reuse).

With reuse N the system band is split into N channels, and co-channel APs should be as far
apart as the layout allows. The plan colours the AP conflict graph with networkx: APs
closer than a distance d are joined, and d is the largest distance for which a greedy
colouring still needs at most N colours, so every pair of co-channel APs is farther apart
than d. Sectors of one site (distance 0) always get different channels when N allows.
"""

from __future__ import annotations

import networkx as nx
import numpy as np


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
    """(A,) channel of each AP, in ``range(n_channels)``: co-channel APs as far apart as a
    greedy colouring finds, and the channels' loads balanced (they differ by at most one).

    For growing d, the APs closer than or at d are joined and the graph is coloured with
    networkx (largest-first and saturation orders, the better kept); the largest d still
    coloured with ``n_channels`` colours wins, so every co-channel pair is farther apart
    than d. APs then move from the fullest channel to the emptiest where no AP within d
    uses it.
    """
    n_aps = len(ap_xy)
    if n_channels == 1 or n_aps == 1:
        return np.zeros(n_aps, dtype=int)
    dist = distances_m(ap_xy, wrap_offsets_m)
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
    """Move APs from the fullest channel to the emptiest while no conflicting AP (within
    the plan's distance) is there, until the loads differ by at most one."""
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


def min_cochannel_distance_m(
    channels: np.ndarray, ap_xy: np.ndarray, wrap_offsets_m: np.ndarray | None = None
) -> float:
    """The shortest distance (m) between two APs on the same channel (inf if none)."""
    dist = distances_m(ap_xy, wrap_offsets_m)
    same = (channels[:, None] == channels[None, :]) & ~np.eye(len(channels), dtype=bool)
    return float(dist[same].min()) if same.any() else float("inf")
