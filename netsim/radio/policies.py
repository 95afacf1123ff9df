"""Scheduling policies of the OFDMA scheduler (``radio.scheduler``): who gets each resource
block (RB) of an AP in a slot, from the rates the PIUs could get on it.

A policy sees, for one AP and slot, the PIUs with data and ``estimate`` (n, R): the bits per
second PIU i would get on RB r alone (interference-free, the power spread over every RB).
After the slot it is told the rate each PIU was served at (:meth:`SchedulingPolicy.served`),
which proportional fair averages. The scheduler (``netsim/radio/scheduler.py``) applies the
decision and computes the SINRs; nothing here knows about slots, HARQ or the NR tables.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from typing_extensions import override


class SchedulingPolicy(ABC):
    """Gives each RB of one AP's channel to one of its PIUs with data, every slot."""

    name: str

    @abstractmethod
    def choose(self, ap: int, pius: list[int], estimate: np.ndarray) -> np.ndarray:
        """(R,) position in ``pius`` that gets each RB of AP ``ap``; ``estimate`` (n, R):
        PIU ``pius[i]``'s rate on RB r (bit/s)."""

    def choose_cells(
        self, aps: np.ndarray, cell: np.ndarray, pius: list[int], estimate: np.ndarray
    ) -> np.ndarray:
        """(len(aps), R) for several APs at once: the PIU (position in ``pius``) that gets
        RB r of AP ``aps[c]``; ``cell`` (n,): each PIU's AP as a position in ``aps`` (every
        AP has at least one); ``estimate`` (n, R) as in :meth:`choose`. The same decisions
        as :meth:`choose` AP by AP (which this default calls)."""
        out = np.empty((len(aps), estimate.shape[1]), dtype=int)
        for c, ap in enumerate(aps.tolist()):
            mine = np.flatnonzero(cell == c)
            out[c] = mine[self.choose(ap, [pius[i] for i in mine], estimate[mine])]
        return out

    @abstractmethod
    def served(self, piu: int, rate_bps: float) -> None:
        """After a slot: the rate ``piu`` was served at (0 when it got no RB or, on NR
        links, no block was decoded). Only proportional fair keeps it."""


def _by_cell(cell: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows grouped by cell (``cell`` (n,): each row's): ``order``, the rows by cell and
    each cell's in their order; ``counts`` and ``start``, each cell's rows and where they
    begin in ``order``."""
    order = np.argsort(cell, kind="stable")
    counts = np.bincount(cell, minlength=n_cells)
    return order, counts, np.cumsum(counts) - counts


def argmax_per_cell(metric: np.ndarray, cell: np.ndarray, n_cells: int) -> np.ndarray:
    """(n_cells, R): per cell and RB, the row of ``metric`` (n, R) of that cell with the
    largest value (the first of equal ones, as ``argmax`` over the cell's rows in order)."""
    order, counts, start = _by_cell(cell, n_cells)
    position = np.arange(len(cell)) - start[cell[order]]  # within its cell
    padded = np.full((n_cells, int(counts.max()), metric.shape[1]), -np.inf)
    padded[cell[order], position] = metric[order]
    return order[start[:, None] + padded.argmax(axis=1)]


class RoundRobin(SchedulingPolicy):
    """RBs in turn: RB r of a slot to PIU ``(first + r) mod n``, ``first`` advancing by the
    RBs of the slot, per AP, so that over time every PIU with data gets an equal share."""

    name = "rr"

    def __init__(self) -> None:
        self._next: dict[int, int] = {}  # each AP's next PIU position

    @override
    def choose(self, ap: int, pius: list[int], estimate: np.ndarray) -> np.ndarray:
        n, n_rb = estimate.shape
        first = self._next.get(ap, 0) % n
        self._next[ap] = first + n_rb
        return (first + np.arange(n_rb)) % n

    @override
    def choose_cells(
        self, aps: np.ndarray, cell: np.ndarray, pius: list[int], estimate: np.ndarray
    ) -> np.ndarray:
        n_rb = estimate.shape[1]
        order, counts, start = _by_cell(cell, len(aps))
        first = np.empty(len(aps), dtype=int)
        for c, (ap, n) in enumerate(zip(aps.tolist(), counts.tolist(), strict=True)):
            first[c] = self._next.get(ap, 0) % n
            self._next[ap] = first[c] + n_rb
        turn = (first[:, None] + np.arange(n_rb)[None, :]) % counts[:, None]
        return order[start[:, None] + turn]

    @override
    def served(self, piu: int, rate_bps: float) -> None:
        pass  # the turn does not depend on what was served


class MaxCI(SchedulingPolicy):
    """Max C/I: each RB to the PIU with the highest rate on it (largest sum rate, no
    fairness)."""

    name = "max_ci"

    @override
    def choose(self, ap: int, pius: list[int], estimate: np.ndarray) -> np.ndarray:
        return estimate.argmax(axis=0)

    @override
    def choose_cells(
        self, aps: np.ndarray, cell: np.ndarray, pius: list[int], estimate: np.ndarray
    ) -> np.ndarray:
        return argmax_per_cell(estimate, cell, len(aps))

    @override
    def served(self, piu: int, rate_bps: float) -> None:
        pass  # the best rate now does not depend on what was served


class ProportionalFair(SchedulingPolicy):
    """Proportional fair (Jalali, Padovani, Pankaj 2000; Sionna SYS's PFSchedulerSUMIMO):
    each RB to the PIU of the largest ``rate on it / T_k``, where ``T_k`` is PIU k's
    exponentially averaged served rate over ``window_slots`` slots,
    ``T_k <- (1 - 1/t_c) T_k + r_k / t_c``, kept between transfers. A PIU not yet served
    has ``T_k = 0`` (it goes first); its first served rate starts its average."""

    name = "pf"

    def __init__(self, window_slots: float = 100.0) -> None:
        self.window_slots = window_slots
        self.average: dict[int, float] = {}  # T_k (bit/s) by PIU

    @override
    def choose(self, ap: int, pius: list[int], estimate: np.ndarray) -> np.ndarray:
        return self._metric(pius, estimate).argmax(axis=0)

    @override
    def choose_cells(
        self, aps: np.ndarray, cell: np.ndarray, pius: list[int], estimate: np.ndarray
    ) -> np.ndarray:
        return argmax_per_cell(self._metric(pius, estimate), cell, len(aps))

    def _metric(self, pius: list[int], estimate: np.ndarray) -> np.ndarray:
        """(n, R) ``estimate / T_k``."""
        t = np.array([self.average.get(k, 0.0) for k in pius])
        return estimate / np.maximum(t, 1e-9)[:, None]

    @override
    def served(self, piu: int, rate_bps: float) -> None:
        t = self.average.get(piu, rate_bps)
        self.average[piu] = (1 - 1 / self.window_slots) * t + rate_bps / self.window_slots


def scheduling_policy(name: str, pf_window_slots: float = 100.0) -> SchedulingPolicy:
    """The policy of ``radio.scheduler``: "rr", "pf" or "max_ci"."""
    if name == "rr":
        return RoundRobin()
    if name == "pf":
        return ProportionalFair(pf_window_slots)
    if name == "max_ci":
        return MaxCI()
    raise ValueError(f"unknown scheduling policy {name!r}; one of 'rr', 'pf', 'max_ci'")
