"""Simulation: builds the entities of a scenario on one SimPy timeline and runs it."""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from netsim.assembly import build_world
from netsim.backhaul.flows import LOAD_COLUMNS, link_loads
from netsim.learn.cache import TrainingCache
from netsim.log import RoundRecord, events_frame, flow_table, global_rounds, rounds_frame
from netsim.privacy.attacker import AttackReport
from netsim.radio.scheduler import USAGE_COLUMNS
from netsim.scenario import Scenario

PIU_EVAL_COLUMNS = ["round", "piu", "samples", "loss", "accuracy"]


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on other C libraries."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _glibc_malloc_trim()


def _after_each_round(
    on_round: Callable[[RoundRecord], None] | None,
) -> Callable[[RoundRecord], None]:
    """The server's end-of-round hook: give memory freed in the round back to the OS, then
    call the user's callback.

    A round allocates and frees one model-sized tensor per update (0.8 MB for the MLP, 1,000
    per round at scale). glibc then raises its mmap threshold and serves them from the heap,
    which fragments and never shrinks: the 10,000-PIU scale benchmark grew to 6.1 GB.
    ``malloc_trim`` after each round keeps it at 2.8 GB for about 15 ms (measured; forcing
    mmap instead made the run 1.7x slower).
    """

    def after(record: RoundRecord) -> None:
        if _MALLOC_TRIM is not None:
            _MALLOC_TRIM(0)
        if on_round is not None:
            on_round(record)

    return after


@dataclass
class SimulationResult:
    """What a run produced.

    Attributes
    ----------
    events: the event log (one row per event, DESIGN.md columns).
    rounds: one row per completed round (hierarchical FL: the cloud's rows, tier "global",
        and the edge servers' rows, tier "edge", in the order they ended).
    weights: final global model, flat float32 (P,).
    state_dict: final global model as a ``state_dict``.
    wall_time_s: wall-clock duration of :meth:`Simulation.run`.
    initial_battery_j, final_battery_j: battery level of each PIU (by node name) before and
        after the run, in J; harvested_j: energy each PIU harvested and stored, in J.
    training_jobs_run, training_cache_hits: local updates computed / read from the cache.
    diagnostics: wall-clock figures of the run (allocation solve times), machine-dependent,
        so kept out of the event log and written to the manifest.
    attacks: the attacks of ``[attack]``, gradient inversion or GAN (None: no attacker).
    piu_eval: per-PIU evaluation (``learning.eval_every``): one row per (round, PIU) with
        the held-out ``samples``, the global model's ``loss`` and ``accuracy`` on them
        (empty without; ``netsim.analysis.breakdown.piu_accuracy`` summarises it).
    backhaul: on a routed backhaul, each directed link's load over time, FL transfers and
        background traffic apart (:func:`netsim.backhaul.flows.link_loads`; empty without
        one).
    rb_usage: under a slot scheduler (``radio.scheduler`` rr / pf / max_ci, or NR links),
        the RB-slots each AP gave, by the SINR on them, per direction
        (:meth:`netsim.radio.scheduler.OFDMAScheduler.usage`; empty without one): the
        per-RB SINR CDF and each cell's RB utilisation (:mod:`netsim.analysis.kpis`).
    """

    scenario: Scenario
    events: pd.DataFrame
    rounds: pd.DataFrame
    weights: torch.Tensor
    state_dict: dict[str, torch.Tensor]
    wall_time_s: float
    initial_battery_j: dict[str, float] = field(default_factory=dict)
    final_battery_j: dict[str, float] = field(default_factory=dict)
    harvested_j: dict[str, float] = field(default_factory=dict)
    training_jobs_run: int = 0
    training_cache_hits: int = 0
    attacks: AttackReport | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)
    piu_eval: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PIU_EVAL_COLUMNS))
    backhaul: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LOAD_COLUMNS))
    rb_usage: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=USAGE_COLUMNS))

    @property
    def sim_time_s(self) -> float:
        """Simulated time (s) at the end of the last round."""
        return float(self.rounds["t_end_s"].max()) if len(self.rounds) else 0.0

    @property
    def flows(self) -> pd.DataFrame:
        """One row per transfer (uplinks, downlinks, forwards, sends): bits, start, end,
        throughput, delay, route, outcome and why (:func:`netsim.log.flow_table`)."""
        return flow_table(self.events)

    @property
    def final_accuracy(self) -> float:
        """Test accuracy of the final global model (NaN without a round)."""
        made = global_rounds(self.rounds)
        return float(made["test_accuracy"].iloc[-1]) if len(made) else math.nan

    @property
    def total_energy_j(self) -> float:
        """Energy the PIUs spent (J); harvested energy is not subtracted."""
        e = self.events
        return float(e.loc[(e["role"] == "piu") & (e["event"] != "harvest"), "energy_j"].sum())

    @property
    def final_metric(self) -> tuple[str, float, str]:
        """The task's own score of the final global model on the test set, as (what,
        value, unit); the value is NaN without a round.

        Classification (and the radio task "los"): ("accuracy", the fraction right, "");
        localization: ("median localization error", m, "m"); the radio task "snr":
        ("RMS SNR prediction error", dB, "dB"); a data file's regression: ("test loss
        (mean squared error)", in the target's squared units, "")."""
        learning = self.scenario.learning
        made = global_rounds(self.rounds)
        last = made.iloc[-1] if len(made) else None

        def value(column: str) -> float:
            return float(last[column]) if last is not None else math.nan

        if learning.dataset == "radio" and learning.task == "localization":
            return "median localization error", value("test_median_error_m"), "m"
        if learning.dataset == "radio" and learning.task == "snr":
            from netsim.assembly.learning import radio_task_of  # built once per scenario

            # the loss is the MSE of the standardised SNR: one deviation is target_scale dB
            scale = radio_task_of(self.scenario).target_scale
            return "RMS SNR prediction error", math.sqrt(value("test_loss")) * scale, "dB"
        if learning.task == "regression":
            return "test loss (mean squared error)", value("test_loss"), ""
        return "accuracy", value("test_accuracy"), ""

    def warnings(self) -> list[str]:
        """What a person should know about this result that is not an error (``netsim run``
        prints it at the end; empty when nothing): the rounds that aggregated no update,
        with why, counted from the event log and the rounds table (e.g. "20 of 20 rounds
        aggregated no update (no local update ever reached the model): 400 selected PIUs missed
        the deadline (protocol.deadline_s = 0.9 s; at the deadline 260 were still uploading,
        140 were still on the backhaul (uploaded over the air))")."""
        made = global_rounds(self.rounds)
        empty = made[made["aggregated"] == 0]
        if empty.empty:
            return []
        head = f"{len(empty)} of {len(made)} rounds aggregated no update"
        if len(empty) == len(made):
            head += " (no local update ever reached the model)"
        reasons = _empty_round_reasons(self.scenario, empty, self.events)
        return [f"{head}: {'; '.join(reasons)}" if reasons else head]

    def save(self, out_dir: str | Path, *, command: str | None = None) -> Path:
        """Write the run directory atomically (see :func:`netsim.rundir.write_run`)."""
        from netsim.rundir import write_run

        return write_run(self, Path(out_dir), command=command)


def _empty_round_reasons(
    scenario: Scenario, empty: pd.DataFrame, events: pd.DataFrame
) -> list[str]:
    """Why the rounds of ``empty`` (rows of the rounds table that aggregated nothing)
    aggregated nothing, one phrase per cause, largest first: deadline misses (with how far
    the PIUs had got when the deadline fell), cuts, lost uploads (by the reason of their
    last failure), skips (by reason), PIUs gone offline or left, rounds nobody was in."""
    rounds = set(empty["round"].tolist())
    ev = events[events["round"].isin(rounds)]
    causes: list[tuple[int, str]] = []

    server = ev[ev["role"] == "server"]  # the federation's own server (the cloud's misses
    missed = server[server["event"] == "deadline_miss"]  # are edge servers)
    if len(missed):
        peers = missed["peer"].astype(str)
        pius = missed[peers.str.startswith("piu")]
        if len(pius) == len(missed):
            who, field, limit = "selected PIU", "protocol", scenario.protocol.deadline_s
        else:  # hierarchical FL: the cloud waits for edge servers
            assert scenario.hierarchy is not None
            who, field, limit = "edge server", "hierarchy", scenario.hierarchy.deadline_s
        predicted = ev.loc[ev["event"] == "deadline", "duration_s"]  # predictive selection
        details = [f"{field}.deadline_s = {limit:g} s"] if limit is not None else []
        if len(predicted):
            low, high = float(predicted.min()), float(predicted.max())
            span = f"{low:.3g} s" if low == high else f"{low:.3g} to {high:.3g} s"
            details.append(f"predictive deadlines of {span}")
        stages = _stages_at_deadline(pius, ev)
        if stages:
            details.append(f"at the deadline {stages}")
        text = f"{_count(len(missed), who)} missed the deadline"
        causes.append((len(missed), text + _brackets("; ".join(details))))
    cut = int((server["event"] == "cut").sum())
    if cut:
        text = f"{_count(cut, 'selected PIU')} {_was(cut)} cut off (protocol.target_updates met)"
        causes.append((cut, text))

    lost = int(empty["lost"].sum())
    if lost:
        piu = ev[ev["role"] == "piu"]
        done = set(zip(*_where(piu, "tx_end"), strict=True))
        fails = piu[piu["event"] == "tx_fail"].drop_duplicates(["round", "node"], keep="last")
        fails = fails[[key not in done for key in zip(fails["round"], fails["node"], strict=True)]]
        why = fails["reason"].astype(str).value_counts()
        dl = int((ev["event"] == "dl_fail").sum())  # NR: the model itself lost on the way
        if dl:
            why["dl_fail"] = dl
        detail = _counted(why, lost)
        causes.append((lost, f"{_count(lost, 'upload')} {_was(lost)} lost" + _brackets(detail)))

    skipped = int(empty["skipped"].sum())
    if skipped:
        skips = ev[(ev["role"] == "piu") & (ev["event"] == "skip")]
        detail = _counted(skips["reason"].astype(str).value_counts(), skipped)
        text = f"{_count(skipped, 'PIU')} skipped the round" + _brackets(detail)
        causes.append((skipped, text))
    for column, text in (
        ("offline", "went offline"),
        ("left", "left the federation (battery empty)"),
    ):
        n = int(empty[column].sum())
        if n:
            causes.append((n, f"{_count(n, 'PIU')} {text}"))
    nobody = int((empty["selected"] == 0).sum())
    if nobody:
        causes.append((nobody, f"{_count(nobody, 'round')} selected no PIU"))
    return [text for _, text in sorted(causes, key=lambda c: -c[0])]


# the event log's reason codes (tx_fail, skip; dl_fail rows) in words
_REASON_WORDS = {
    "harq": "HARQ gave up",
    "outage": "outage",
    "dl_fail": "downlink block failures",
    "energy": "battery too low",
    "offline": "offline",
}


def _counted(reasons: pd.Series, total: int) -> str:
    """Reason codes with their counts in words: "battery too low" when one reason covers all
    ``total``, else "HARQ gave up: 10, outage: 2"."""
    words = {_REASON_WORDS.get(str(code), str(code)): int(n) for code, n in reasons.items()}
    if len(words) == 1 and next(iter(words.values())) == total:
        return next(iter(words))
    return ", ".join(f"{word}: {n}" for word, n in words.items())


def _count(n: int, noun: str) -> str:
    """The count and the noun: "1 upload", "2 uploads"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _was(n: int) -> str:
    """The verb after ``n`` things: "was" or "were"."""
    return "was" if n == 1 else "were"


def _brackets(text: str) -> str:
    """`` (text)``, or nothing when ``text`` is empty."""
    return f" ({text})" if text else ""


def _where(events: pd.DataFrame, event: str) -> tuple[list[int], list[str]]:
    """(rounds, nodes) of the rows of type ``event``."""
    rows = events[events["event"] == event]
    return rows["round"].tolist(), rows["node"].astype(str).tolist()


def _stages_at_deadline(missed: pd.DataFrame, events: pd.DataFrame) -> str:
    """How far the PIUs of the ``deadline_miss`` rows ``missed`` had got in their round when
    the deadline fell, from their own events (model received, trained, uploaded over the
    air), e.g. "12 were still training, 8 were still uploading"."""
    piu = events[events["role"] == "piu"]
    reached = [set(zip(*_where(piu, name), strict=True)) for name in _STAGE_ENDS]
    counts = [0] * len(_STAGES)
    for key in zip(missed["round"].tolist(), missed["peer"].astype(str).tolist(), strict=True):
        # the stage after the last one the PIU finished (none finished: stage 0)
        counts[next((i + 1 for i in reversed(range(3)) if key in reached[i]), 0)] += 1
    parts = [f"{n} {_was(n)} {stage}" for stage, n in zip(_STAGES, counts) if n]
    return ", ".join(parts)


# where a PIU that missed the deadline was, and the events that end each stage
_STAGES = (
    "still waiting for the model",
    "still training",
    "still uploading",
    "still on the backhaul (uploaded over the air)",
)
_STAGE_ENDS = ("rx_model", "train_end", "tx_end")


class Simulation:
    """One simulation of a scenario.

    >>> res = Simulation(load_scenario()).run()   # doctest: +SKIP
    >>> res.rounds[["round", "t_end_s", "test_accuracy"]]   # doctest: +SKIP

    Parameters
    ----------
    scenario: a validated :class:`Scenario`.
    on_round: optional callback with each finished :class:`RoundRecord` (e.g. a progress bar).
    cache_dir: optional training-result cache (:class:`TrainingCache`): updates whose inputs
        match a stored one are read instead of computed (exact), new ones are stored. Resumes
        an interrupted run and speeds up what-if runs that change only timing, radio or energy.

    The entities are built by :func:`netsim.assembly.build_world` (``self.world``); the
    attributes below are the parts users look at.
    """

    def __init__(
        self,
        scenario: Scenario,
        on_round: Callable[[RoundRecord], None] | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        if not isinstance(scenario, Scenario):
            raise TypeError(
                f"Simulation(scenario): a Scenario, not {type(scenario).__name__} "
                f"{scenario!r:.60}; load one with netsim.load_scenario('default') or "
                "load_scenario('my.toml', ['protocol.rounds=5'])"
            )
        self.scenario = scenario
        w = self.world = build_world(scenario, _after_each_round(on_round))
        self.env, self.log, self.streams = w.env, w.log, w.streams
        self.topology, self.channel, self.gain, self.los = (
            w.topology,
            w.channel,
            w.gains.gain,
            w.gains.los,
        )
        self.serving_ap, self.devices, self.cellfree_uplink = w.serving_ap, w.devices, w.cellfree
        self.trainer, self.train_data, self.partitions = w.trainer, w.train_data, w.partitions
        self.server, self.aps, self.pius, self.movers = w.server, w.aps, w.pius, w.movers
        self.attacker = w.attacker
        self.cache: TrainingCache | None = None
        if cache_dir is not None:
            self.enable_cache(cache_dir)

    def gain_at(self, piu: int, xy: np.ndarray) -> np.ndarray:
        """beta (A,) of PIU ``piu`` moved to ``xy`` (m) (see :class:`LargeScaleGains`)."""
        return self.world.gains.gain_at(piu, xy)

    def enable_cache(self, cache_dir: str | Path) -> None:
        """Use a training-result cache in ``cache_dir`` (see ``cache_dir`` above)."""
        self.cache = TrainingCache(cache_dir)
        self.trainer.use_cache(self.cache)

    def cache_bytes_upper_bound(self) -> int:
        """Disk a cache of every local update of this run may take: P x 4 B x PIUs x rounds."""
        n_pius, rounds = len(self.pius), self.scenario.protocol.rounds
        if self.scenario.hierarchy is not None:  # k2 edge rounds per cloud round
            rounds *= self.scenario.hierarchy.k2
        return self.trainer.num_params * 4 * n_pius * rounds  # float32: 4 bytes per weight

    def run(self) -> SimulationResult:
        """Run all rounds with ``learning.threads_per_worker`` torch threads (the caller's
        count is restored after; a worker pool's workers are stopped); return the event
        log, the rounds table and the final model."""
        wall_start = time.perf_counter()  # wall clock only measures the run, never drives it
        threads = torch.get_num_threads()
        if self.trainer.threads is not None:
            torch.set_num_threads(self.trainer.threads)
        if self.trainer.pool is not None:
            self.trainer.pool.start()  # workers start up while the timeline runs
        try:
            return self._run(wall_start)
        finally:
            self.trainer.close()  # a worker pool's workers
            torch.set_num_threads(threads)

    def _run(self, wall_start: float) -> SimulationResult:
        try:
            self.env.run(until=self.server.process)
        except RuntimeError:  # SimPy: nothing is scheduled any more, the server still waits
            if self.env.peek() != math.inf:
                raise
            # e.g. every PIU offline for good after the end of its trace
            self.server.emit(
                "stop",
                -1,
                reason="nothing_left",
                detail="nothing left to happen: no PIU will come back",
            )
        self.trainer.finish_deferred()  # the last rounds' evaluations
        events = events_frame(self.log.records)
        records = [r for e in self.world.edges for r in e.records] + self.server.records
        rounds = rounds_frame(sorted(records, key=lambda r: r.t_end_s))  # stable: ties keep
        # the order above (an edge's last row before the cloud row it led to)
        weights = self.server.weights
        attacks = None
        if self.attacker is not None:  # attacks take no simulated time: after the run
            attacks = self.attacker.report(self.trainer, self.partitions, self.train_data, weights)
        return SimulationResult(
            scenario=self.scenario,
            events=events,
            rounds=rounds,
            weights=weights,
            state_dict=self.trainer.state_dict(weights),
            wall_time_s=time.perf_counter() - wall_start,
            initial_battery_j={p.name: p.battery.capacity_j for p in self.pius},
            final_battery_j={p.name: p.battery.level_j for p in self.pius},
            harvested_j={p.name: p.battery.harvested_j for p in self.pius},
            training_jobs_run=self.trainer.jobs_run,
            training_cache_hits=self.cache.hits if self.cache is not None else 0,
            attacks=attacks,
            diagnostics=self._diagnostics(),
            piu_eval=pd.DataFrame(self.server.piu_scores, columns=PIU_EVAL_COLUMNS),
            backhaul=(
                link_loads(self.world.backhaul.network, float(self.env.now))
                if self.world.backhaul is not None
                else pd.DataFrame(columns=LOAD_COLUMNS)
            ),
            rb_usage=self._rb_usage(),
        )

    def _rb_usage(self) -> pd.DataFrame:
        """The slot schedulers' RB usage (uplink, then downlink), empty without one."""
        plan = self.world.spectrum
        tables = [s.usage() for s in ([] if plan is None else plan.schedulers)]
        tables = [t for t in tables if len(t)]
        if not tables:
            return pd.DataFrame(columns=USAGE_COLUMNS)
        return pd.concat(tables, ignore_index=True)

    def _diagnostics(self) -> dict[str, float]:
        solves = self.server.solve_times_s
        if not solves:
            return {}
        return {
            "allocation_solves": len(solves),
            "allocation_solve_mean_s": float(np.mean(solves)),
            "allocation_solve_max_s": float(np.max(solves)),
        }
