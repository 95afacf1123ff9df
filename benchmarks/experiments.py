"""Experiments of the issues on the embedded MNIST-5k data.

    python -m benchmarks.experiments NAME [--rounds R] [--seeds S] [--set KEY=VALUE ...]
                                          [--out DIR] [--csv FILE] [--png FILE] [--only TEXT]

NAME: afcfl, pruning, emq, allocation, privacy, stragglers, spectrum, nr, hierarchy,
algorithms, byzantine, dp, localization, closed_loop, raytracing. Each experiment runs whole
simulations through the Python API (the same code as ``netsim run``) with seeds 1..S, every
configuration with the same seeds, and prints one row per configuration: each metric's
mean over the seeds with its Student-t 95 % confidence interval. It writes NAME.csv (per
seed), NAME.md (the table, and for afcfl, pruning, allocation and privacy the papers'
claims tested on paired seeds with their verdicts) and NAME.png (the study's headline
metric with its intervals) into ``--out`` (default ``docs/reproductions``; see
benchmarks/claims.py and docs/reproductions.md). ``--set`` adds overrides to every run,
e.g. ``learning.backend=processes`` (the same results on a worker pool, faster).

* ``afcfl``: AFC-FL against fixed frequency/compression, the AFC-FL paper's Table 6 setting
  (10 PIUs, one class each, LeNet-5, top-k keeping C % of the entries): rounds to 90 % test
  accuracy (and parameters uploaded until then), mean uploaded parameters per round,
  maximum accuracy.
* ``pruning``: the dense model, one-shot (OSP) and iterative magnitude pruning (IMP) at
  70/90/95/98 % sparsity, LeNet-5 over the air in the IIoT factory, full (100 PIUs) and
  partial (50 a round) participation (the OTA-FL IMP paper's setting at laptop scale).
* ``emq``: EMQ adaptive quantization against full precision in the default scenario: uplink
  bits and accuracy.
* ``allocation``: SQP, Dinkelbach, max-sum-rate and full-power allocation in ``cellfree_emq``
  with EMQ and with full precision: accuracy within loose and tight time and energy budgets,
  uplink bits, energy, mean round latency and energy.
* ``privacy``: DLG and the GAN attack against local iterations, top-k kept fraction and
  AFC-FL (the AFC-FL paper's Tables 2-5), the GAN also at equal model accuracy: SSIM and
  MSE of the reconstructions (mean and best), label accuracy, the attack's restarts and
  iterations.
* ``stragglers``: synchronous FedAvg (wait for all, deadline, over-commitment), FedAsync and
  FedBuff under Pareto stragglers: accuracy against simulated time (and at the time the
  shortest run ended), energy per PIU, share of the energy spent on work that was wasted.
* ``spectrum``: the bundled ``hex_umi`` (7 UMi sites x 3 sectors, 70 PIUs, wrap-around)
  with orthogonal channels, reuse 3 and reuse 1, each with and without open-loop power
  control: mean round latency, uplink energy per round, final accuracy, mean uplink rate,
  SINR and interference, and how much orthogonal channels overstate the rate (the
  orthogonal run's mean rate over this one's).
* ``nr``: the default and ``multi_ap`` scenarios with Shannon rates and with the NR link
  abstraction (``radio.link = "nr"``): airtime per upload, round latency, uplink energy per
  round, simulated time and PIU energy to 90 % test accuracy, MCS, transport blocks and
  HARQ retransmissions per upload, lost uploads; then the NR throughput over the Shannon
  throughput of the same PIU (same position, shadowing and seed) against its mean SNR, and
  how HARQ retransmissions are spread over the uploads.
* ``hierarchy``: the bundled ``three_tier`` network (16 APs -> 4 edge servers -> a gateway
  -> the cloud over one shared 1 Gbit/s uplink), flat FL against hierarchical FL (HierFAVG,
  k2 = 2 edge rounds per cloud round, k1 in 1, 2, 5 local rounds per edge round), with
  background traffic at 0, 50 and 90 % of the shared uplink in each direction (an
  aggregate of 50 connections): simulated time and PIU energy to 90 % test accuracy, FL
  bytes over the shared uplink (per global round and to 90 %), and where a global round's
  time goes (flat: along the critical PIU; hierarchical: cloud <-> edge backhaul and the
  edge rounds along the critical edge server, and within its edge rounds).
* ``algorithms``: FedAvg, FedProx (mu 0.01 and 0.5), SCAFFOLD, FedNova and FedAdam (server lr
  0.01) on Dirichlet(0.1) MNIST-5k over 20 PIUs (default scenario, MLP, local SGD lr 0.05
  without momentum, 20 steps): final and best
  accuracy, simulated time and PIU uplink energy to 80 % accuracy, uplink bits (SCAFFOLD
  pays twice).
* ``byzantine``: 20 PIUs, 4 of them Byzantine (20 %; sign flip x 3), MLP on IID MNIST-5k:
  final accuracy of FedAvg, coordinate median, trimmed mean (20 %), Krum, Multi-Krum and
  Bulyan (f = 4), and FedAvg with no Byzantine PIU.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import claims
from benchmarks.claims import Claim
from netsim import Simulation, load_scenario


@dataclass(frozen=True)
class Config:
    """One row of an experiment: a label and the ``--set`` overrides that define it."""

    label: str
    overrides: tuple[str, ...]


# --set overrides applied to every run of the experiment after its own (e.g. a worker pool:
# learning.backend=processes gives the same results faster)
EXTRA_OVERRIDES: list[str] = []


# with --csv FILE, each finished run's row is appended to FILE.partial at once: a study
# interrupted after hours keeps what it computed (rebuild its pages with --from-csv)
PARTIAL: list[Path] = []


def finished(row: dict) -> None:
    """A run of a study finished: print its row to stderr and append it to the partial
    table of ``--csv`` (if any)."""
    print(", ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr, flush=True)
    for path in PARTIAL:
        pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)


def run(scenario: str | None, overrides: Sequence[str], seed: int):
    """One simulation of ``scenario`` (None: the default) with overrides, the command
    line's ``--set`` overrides and seed."""
    sets = [*overrides, *EXTRA_OVERRIDES, f"seed={seed}"]
    return Simulation(load_scenario(scenario, sets)).run()


def rounds_to(accuracy: pd.Series, target: float) -> float:
    """1-based number of rounds until the test accuracy first reaches ``target`` (NaN: never)."""
    hit = np.flatnonzero(accuracy.to_numpy() >= target)
    return float(hit[0] + 1) if hit.size else math.nan


# --------------------------------------------------------------------------- (b) AFC-FL

AFCFL_BASE = (
    "protocol.rounds={rounds}",
    'learning.partition={{kind = "shards", classes_per_piu = 1}}',
    'learning.model="lenet5"',
    "learning.batch_size=50",
    'learning.trainer="batched"',
    'compression={{method = "topk", ratio = {ratio}}}',
)


def afcfl_configs(rounds: int) -> list[Config]:
    """Table 6 of the AFC-FL paper: fixed (F, C) pairs and AFC-FL (f0 = 5, C0 = 100 %,
    Cmin = 90 %, D = 2: f 5 -> C 90 %, f 1 -> C 98 %)."""

    def base(ratio: float) -> tuple[str, ...]:
        return tuple(o.format(rounds=rounds, ratio=ratio) for o in AFCFL_BASE)

    return [
        Config(
            "AFC-FL",
            (
                *base(1.0),
                "learning.local_steps=5",
                'control={kind = "afcfl", c0 = 100, c_min = 90, d = 2.0}',
            ),
        ),
        Config("F=1, C=100%", (*base(1.0), "learning.local_steps=1")),
        Config("F=1, C=90%", (*base(0.9), "learning.local_steps=1")),
        Config("F=5, C=100%", (*base(1.0), "learning.local_steps=5")),
        Config("F=5, C=90%", (*base(0.9), "learning.local_steps=5")),
    ]


def uploaded_values(events: pd.DataFrame, n_params: int) -> pd.Series:
    """Model entries uploaded per round (sum over PIUs), from the top-k payloads' bits.

    Top-k payload bits are ``min(32 n, n + 32 k, 64 k, k (32 + ceil(log2 n)))`` (see
    :func:`netsim.compress.base.sparse_bits`); the encoding is logged, so k is recovered
    exactly from the bits."""
    tx = events[events.event == "tx_start"]
    index_bits = math.ceil(math.log2(n_params))

    def k_of(row: pd.Series) -> int:
        bits, enc = int(row.bits), str(row.detail)
        if enc.endswith("dense_fp32"):
            return n_params
        if enc.endswith("bitmap"):
            return (bits - n_params) // 32
        if enc.endswith("int32_index"):
            return bits // 64
        return bits // (32 + index_bits)

    return tx.apply(k_of, axis=1).groupby(tx["round"]).sum()


def _uplink_mbit(res) -> float:
    """Total payload bits of every upload attempt, in Mbit."""
    return float(res.events.loc[res.events.event == "tx_start", "bits"].sum()) / 1e6


def afcfl(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    rows = []
    for cfg in afcfl_configs(rounds):
        for seed in seeds:
            res = run(None, cfg.overrides, seed)
            values = uploaded_values(res.events, res.weights.numel())
            acc = res.rounds.test_accuracy
            r90 = rounds_to(acc, 0.9)
            rows.append(
                {
                    "config": cfg.label,
                    "seed": seed,
                    "rounds_to_90": r90,
                    # never within the run: rounds + 1, a lower bound (keeps the seed paired)
                    "rounds_to_90_censored": rounds + 1 if math.isnan(r90) else r90,
                    # uploaded entries until 90 % (the paper's "parameters of acc90")
                    "params_to_90": math.nan
                    if math.isnan(r90)
                    else float(values.iloc[: int(r90)].sum()),
                    "params_per_round": float(values.mean()),
                    "max_accuracy": float(acc.max()),
                    "final_accuracy": float(acc.iloc[-1]),
                    "uplink_Mbit": _uplink_mbit(res),
                    "sim_time_s": res.sim_time_s,
                }
            )
            finished(rows[-1])
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- (a) pruning


SPARSITIES = (0.7, 0.9, 0.95, 0.98)


def pruning_configs(rounds: int) -> list[Config]:
    """The dense model, and OSP and IMP to the same final sparsity s in :data:`SPARSITIES`,
    LeNet-5 over the air in the IIoT factory, full (100 PIUs) and partial (50 per round, as
    in the paper) participation. IMP prunes 20 % of the remaining weights per level, so it needs
    L = ceil(log(1 - s) / log 0.8) levels (18 for 98 %); its levels share the first half
    of the rounds at the equal rate that lands exactly on s. Both finish pruning at the same
    round (OSP prunes once, then) and train the second half of the rounds at s."""
    configs = []
    for participation, extra in (("full", ()), ("partial", ("protocol.clients_per_round=50",))):
        common = (f"protocol.rounds={rounds}", "learning.model='lenet5'", *extra)
        configs.append(Config(f"dense {participation}", common))
        for sparsity in SPARSITIES:
            levels = math.ceil(math.log(1 - sparsity) / math.log(0.8))
            rate = 1 - (1 - sparsity) ** (1 / levels)  # equal per-level rate reaching s exactly
            per_level = max(1, (rounds // 2) // levels)
            last = 1 + per_level * (levels - 1)
            configs.append(
                Config(
                    f"OSP {sparsity:.0%} {participation}",
                    (
                        *common,
                        f'pruning={{method = "oneshot", amount = {sparsity}, '
                        f"start_round = {last}}}",
                    ),
                )
            )
            configs.append(
                Config(
                    f"IMP {sparsity:.0%} {participation}",
                    (
                        *common,
                        f'pruning={{method = "imp", rate = {rate:.6f}, levels = {levels}, '
                        f"rounds_per_level = {per_level}, start_round = 1}}",
                    ),
                )
            )
    return configs


def pruning(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    rows = []
    for cfg in pruning_configs(rounds):
        for seed in seeds:
            res = run("iiot_ota", cfg.overrides, seed)
            ota = res.events[res.events.event == "ota_start"]
            prune = res.events[res.events.event == "prune"]
            last_prune = prune.iloc[-1] if len(prune) else None
            rows.append(
                {
                    "config": cfg.label,
                    "seed": seed,
                    "final_accuracy": res.final_accuracy,
                    "max_accuracy": float(res.rounds.test_accuracy.max()),
                    # converged? the accuracy gained over the last 10 rounds
                    "gain_last_10": float(
                        res.rounds.test_accuracy.iloc[-1] - res.rounds.test_accuracy.iloc[-11]
                    )
                    if len(res.rounds) > 10
                    else math.nan,
                    "sparsity": 0.0
                    if last_prune is None
                    else float(last_prune.detail.split("sparsity=")[1].split()[0]),
                    "model_kB": (
                        res.weights.numel() * 32 if last_prune is None else float(last_prune.bits)
                    )
                    / 8e3,
                    "ota_airtime_ms": 1e3 * float(ota.duration_s.iloc[-1]),
                    "sim_time_s": res.sim_time_s,
                }
            )
            finished(rows[-1])
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- (c) EMQ


def emq_configs(rounds: int) -> list[Config]:
    common = (f"protocol.rounds={rounds}",)
    return [
        Config("full precision", common),
        Config("EMQ m=3", (*common, 'compression={method = "emq", mantissa_bits = 3}')),
        Config("EMQ m=1", (*common, 'compression={method = "emq", mantissa_bits = 1}')),
        Config(
            "EMQ m=3 drop",
            (*common, 'compression={method = "emq", mantissa_bits = 3, insignificant = "drop"}'),
        ),
        Config(
            "EMQ m=3 lambda=0.1",
            (*common, 'compression={method = "emq", mantissa_bits = 3, threshold = 0.1}'),
        ),
    ]


def emq(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    rows = []
    for cfg in emq_configs(rounds):
        for seed in seeds:
            res = run(None, cfg.overrides, seed)
            tx = res.events[res.events.event == "tx_end"]
            rows.append(
                {
                    "config": cfg.label,
                    "seed": seed,
                    "final_accuracy": res.final_accuracy,
                    "uplink_Mbit": float(tx.bits.sum()) / 1e6,
                    "uplink_airtime_s": float(tx.duration_s.sum()),
                    "tx_energy_J": float(tx.energy_j.sum()),
                    "sim_time_s": res.sim_time_s,
                }
            )
    table = pd.DataFrame(rows)
    full = table.loc[table.config == "full precision", "uplink_Mbit"].mean()
    table["bits_vs_full"] = table.uplink_Mbit / full
    return table


# --------------------------------------------------------------------------- allocation

# simulated seconds and total PIU energy (J): the loose budgets let most rounds in, the
# tight ones a few, where what each allocation spends per round decides how many fit
TIME_BUDGETS_S = (5.0, 2.0)
ENERGY_BUDGETS_J = (1.0, 0.3)
TIME_BUDGET_S = TIME_BUDGETS_S[0]


def _budget_columns() -> list[str]:
    return [f"acc_within_{t:g}s" for t in TIME_BUDGETS_S] + [
        f"acc_within_{e:g}J" for e in ENERGY_BUDGETS_J
    ]


def _accuracy_within(rounds: pd.DataFrame, done: pd.Series) -> float:
    """Test accuracy of the last of the ``done`` rounds; none: chance on ten classes, 0.1
    (so the seed stays paired)."""
    return float(rounds.test_accuracy[done].iloc[-1]) if done.any() else 0.1


def allocation(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    """The EMQ paper's comparison on ``cellfree_emq``: four allocations, with EMQ and with
    full precision. Accuracy within a budget is the test accuracy of the last round that
    finished within it (:func:`_accuracy_within`)."""
    rows = []
    for method in ("sqp", "dinkelbach", "max_sum_rate", "full_power"):
        for label, compression in (("EMQ", ()), ("full", ('compression={method = "none"}',))):
            for seed in seeds:
                overrides = (f"protocol.rounds={rounds}", f'allocation.method="{method}"')
                res = run("cellfree_emq", (*overrides, *compression), seed)
                r = res.rounds
                within = functools.partial(_accuracy_within, r)
                rows.append(
                    {
                        "config": f"{method} {label}",
                        "seed": seed,
                        "final_accuracy": res.final_accuracy,
                        **{f"acc_within_{t:g}s": within(r.t_end_s <= t) for t in TIME_BUDGETS_S},
                        **{
                            f"acc_within_{e:g}J": within(r.energy_j.cumsum() <= e)
                            for e in ENERGY_BUDGETS_J
                        },
                        "uplink_Mbit": float(r.uplink_bits.sum()) / 1e6,
                        "energy_J": res.total_energy_j,
                        "mean_round_s": float(r.duration_s.mean()),
                        "mean_round_J": float(r.energy_j.mean()),
                    }
                )
                finished(rows[-1])
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- privacy

DLG_BASE = (
    "protocol.rounds={rounds}",
    'learning.model="lenet_dlg"',
    "learning.batch_size=1",
    'learning.trainer="sequential"',
    'learning.optimizer={{name = "sgd", lr = 0.01}}',
    # a fixed number of L-BFGS steps, not a wall-clock budget (which binds at 13 of 100 steps
    # for F = 20 on a loaded 2-core machine and would make the result the machine's): the
    # time budget is only a guard
    'attack={{method = "dlg", pius = [0, 1], rounds = {attacked}, restarts = 2, '
    "iterations = 40, time_budget_s = 3600.0, mask_aware = {aware}}}",
)
GAN_BASE = (
    "protocol.rounds={rounds}",
    "topology.num_pius=5",
    'attack={{method = "gan", pius = [0], victim_class = 3, fake_class = 5, critic = true, '
    "iterations = 50, max_samples = 64}}",
)
# kept fractions of top-k: the paper's lowest (90 %) and beyond it (5.5-7 % of a LeNet-5
# round update is exactly zero: dead ReLUs, blank MNIST borders, so top-k down to ~94 %
# kept drops only zeros; 50 % and 10 % show where it bites)
KEPT = (0.9, 0.5, 0.1)
STEPS = (1, 5, 20)  # local iterations F (the paper's Tables 2-3 range from 1 to 50)
# the GAN compared at equal model accuracy: each run stops at the first round whose global
# model reaches this (the generator has then trained against equally good discriminators)
GAN_EQUAL_ACCURACY = 0.8
AFCFL = (
    'compression={method = "topk", ratio = 1.0}',  # C0 = 100 %, then C from the controller
    'control={kind = "afcfl", c0 = 100, c_min = 90, d = 2.0}',
)


def _topk(kept: float) -> str:
    if kept == 1.0:
        return 'compression={method = "none"}'
    return f'compression={{method = "topk", ratio = {kept}}}'


def privacy_configs(rounds: int) -> list[Config]:
    """The AFC-FL paper's Tables 2-5 on MNIST-5k: DLG (one sample per upload, DLG's
    sigmoid LeNet, the server attacking round 0 of PIUs 0 and 1) and the GAN attack (PIU 0
    imitates class 3, injecting samples labelled 5) against local iterations, top-k kept
    fraction (DLG mask-aware and naive) and AFC-FL (f0 = 5, C 100 -> 90 %); the GAN also
    at equal model accuracy (:data:`GAN_EQUAL_ACCURACY`, within 10 x ``rounds``: F = 1 needs
    about 100 rounds to reach 80 % on the 5 PIUs' one-class shards)."""

    def dlg(*extra: str, aware: bool = True, attacked: str = "[0]", n: int = 1) -> tuple[str, ...]:
        fill = {"rounds": n, "attacked": attacked, "aware": str(aware).lower()}
        return (*(o.format(**fill) for o in DLG_BASE), *extra)

    def gan(*extra: str) -> tuple[str, ...]:
        return (*(o.format(rounds=rounds) for o in GAN_BASE), *extra)

    equal = (f"protocol.target_accuracy={GAN_EQUAL_ACCURACY}", f"protocol.rounds={10 * rounds}")
    at = f"@ {GAN_EQUAL_ACCURACY:.0%} accuracy"
    last = f"[{rounds - 1}]"
    return [
        *(Config(f"DLG F={f}", dlg(f"learning.local_steps={f}")) for f in STEPS),
        *(Config(f"DLG C={c:.0%}", dlg(_topk(c), "learning.local_steps=1")) for c in KEPT),
        *(
            Config(f"DLG C={c:.0%} naive", dlg(_topk(c), "learning.local_steps=1", aware=False))
            for c in KEPT
        ),
        Config(
            f"DLG AFC-FL round {rounds - 1}",
            dlg("learning.local_steps=5", *AFCFL, attacked=last, n=rounds),
        ),
        *(Config(f"GAN F={f}", gan(f"learning.local_steps={f}")) for f in STEPS),
        *(Config(f"GAN C={c:.0%}", gan(_topk(c))) for c in KEPT),
        Config("GAN AFC-FL", gan("learning.local_steps=5", *AFCFL)),
        *(Config(f"GAN F={f} {at}", gan(f"learning.local_steps={f}", *equal)) for f in STEPS),
        *(Config(f"GAN C={c:.0%} {at}", gan(_topk(c), *equal)) for c in (0.1,)),
    ]


def _mean_local_steps(res) -> float:
    """Local steps of the attacked uploads (DLG), else the mean over the rounds (GAN): the
    server's ``control`` events under AFC-FL, the scenario's fixed steps otherwise."""
    attacks, events = res.attacks.rows, res.events
    if (attacks.method != "gan").any():
        return float(attacks.local_steps.mean())
    control = events.loc[events.event == "control", "detail"]
    if control.empty:
        return float(res.scenario.learning.local_steps)
    return float(control.str.extract(r"local_steps=(\d+)")[0].astype(float).mean())


def privacy(rounds: int, seeds: Sequence[int], only: str | None = None) -> pd.DataFrame:
    """Every privacy config (or those whose label contains ``only``); each finished run's
    row is also printed to stderr at once (the whole experiment takes about an hour)."""
    rows = []
    for cfg in privacy_configs(rounds):
        if only is not None and only not in cfg.label:
            continue
        for seed in seeds:
            res = run(None, cfg.overrides, seed)
            a = res.attacks.rows
            sent = res.events[res.events.event == "tx_start"]
            rows.append(
                {
                    "config": cfg.label,
                    "seed": seed,
                    "local_steps": _mean_local_steps(res),
                    "ssim_mean": float(a.ssim.mean()),
                    "ssim_best": float(a.ssim.max()),
                    "mse_mean": float(a.mse.mean()),
                    "mse_best": float(a.mse.min()),
                    "label_acc": float(a.label_correct.mean()),
                    "iterations": float(a.iterations.mean()),
                    "restarts": float(a.restarts.mean()),
                    "final_accuracy": float(res.rounds.test_accuracy.iloc[-1]),
                    "uplink_Mbit": float(sent.bits.sum()) / 1e6,
                    "attack_wall_s": float(a.groupby("image").attack_wall_s.first().sum()),
                }
            )
            finished(rows[-1])
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- stragglers

STRAGGLER_BASE = (
    "device.cycles_per_sample=1e6",  # local training (~0.7 s nominal) dominates the uplink
    'device.straggler={dist = "pareto", shape = 1.5}',  # mean 3x, infinite variance
    "device.battery_j=inf",
)


def straggler_configs(rounds: int) -> list[Config]:
    """Issue 7's comparison under heavy-tailed stragglers (default scenario, 10 PIUs):
    synchronous (wait for all), with a deadline, with over-commitment (10 selected, first 7
    kept), FedAsync (one update per version: 10x the versions; the paper's alpha = 0.6 and a
    smaller one, polynomial staleness a = 0.5) and FedBuff (K = 5: 2x the versions)."""
    base = (*STRAGGLER_BASE,)
    return [
        Config("sync", (*base, f"protocol.rounds={rounds}")),
        Config(
            "sync, deadline 4 s", (*base, f"protocol.rounds={rounds}", "protocol.deadline_s=4.0")
        ),
        Config(
            "sync, over-commit 7 of 10",
            (
                *base,
                f"protocol.rounds={rounds}",
                "protocol.target_updates=7",
                "protocol.clients_per_round=10",
            ),
        ),
        *(
            Config(
                f"FedAsync alpha={alpha}",
                (
                    *base,
                    f"protocol.rounds={10 * rounds}",
                    'protocol.mode="fedasync"',
                    f"protocol.mixing={alpha}",
                ),
            )
            for alpha in (0.6, 0.3)
        ),
        Config(
            "FedBuff K=5",
            (
                *base,
                f"protocol.rounds={2 * rounds}",
                'protocol.mode="fedbuff"',
                "protocol.buffer_size=5",
            ),
        ),
    ]


def wasted_fraction(events: pd.DataFrame) -> float:
    """Share of the PIUs' energy spent on work thrown away: per (PIU, round) the energy of
    training and uploading, wasted if the PIU aborted it (deadline, over-commitment cut,
    going offline) or the server discarded the update (it came too late). Work still under
    way when the run ends is not counted as wasted."""
    piu = events[(events.role == "piu") & (events.event != "harvest")]
    spent = piu.groupby([piu.node.astype(str), piu["round"]]).energy_j.sum()
    aborted = piu[piu.event == "abort"]
    thrown = set(zip(aborted.node.astype(str), aborted["round"], strict=True))
    discard = events[events.event == "discard"]
    late = discard.detail.str.extract(r"(piu\d+) update of round (\d+)").dropna()
    thrown |= set(zip(late[0], late[1].astype(int), strict=True))
    wasted = sum(e for key, e in spent.items() if key in thrown)
    return float(wasted / spent.sum()) if spent.sum() > 0 else math.nan


def stragglers(rounds: int, seeds: Sequence[int], png: str | None = None) -> pd.DataFrame:
    """Accuracy against simulated time, energy per PIU and wasted work of each protocol; the
    accuracy is also read at the time the shortest run ended (equal simulated time)."""
    curves, rows = {}, []
    for cfg in straggler_configs(rounds):
        for seed in seeds:
            res = run(None, cfg.overrides, seed)
            r = res.rounds
            curves.setdefault(cfg.label, []).append(r[["t_end_s", "test_accuracy"]])
            n_pius = len(res.initial_battery_j)
            rows.append(
                {
                    "config": cfg.label,
                    "seed": seed,
                    "versions": len(r),
                    "sim_time_s": res.sim_time_s,
                    "final_accuracy": res.final_accuracy,
                    "energy_per_piu_J": res.total_energy_j / n_pius,
                    "wasted_work": wasted_fraction(res.events),
                    "updates": int(r.aggregated.sum()),
                    "mean_staleness": float(res.events.staleness.mean()),
                }
            )
            finished(rows[-1])
    table = pd.DataFrame(rows)
    horizon = table.groupby("seed").sim_time_s.transform("min")
    table["accuracy_at_equal_time"] = [
        _accuracy_at(c, t) for c, t in zip(_flat(curves), horizon, strict=True)
    ]
    table.insert(3, "equal_time_s", horizon)
    if png:
        _plot_curves(curves, png)
    return table


def _flat(curves: dict[str, list[pd.DataFrame]]) -> list[pd.DataFrame]:
    return [c for runs in curves.values() for c in runs]


def _accuracy_at(curve: pd.DataFrame, t: float) -> float:
    """Test accuracy of the last model evaluated at or before ``t`` (NaN: none yet)."""
    before = curve[curve.t_end_s <= t + 1e-9]
    return float(before.test_accuracy.iloc[-1]) if len(before) else math.nan


def _plot_curves(curves: dict[str, list[pd.DataFrame]], png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, runs in curves.items():
        for i, c in enumerate(runs):
            ax.plot(c.t_end_s, c.test_accuracy, label=label if i == 0 else None, lw=1.2)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Heavy-tailed stragglers (Pareto 1.5), 10 PIUs, MNIST-5k")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def spectrum_configs(rounds: int) -> list[Config]:
    configs = []
    for reuse in ("orthogonal", "3", "1"):
        for pc, label in (("", ""), ("radio.power_control={p0_dbm=-60.0, alpha=0.8}", " +PC")):
            sets = [f"protocol.rounds={rounds}", f"radio.reuse={reuse}", *([pc] if pc else [])]
            configs.append(Config(f"reuse {reuse}{label}", tuple(sets)))
    for scheduler in ("rr", "pf"):  # OFDMA, reuse 1
        sets = (f"protocol.rounds={rounds}", f"radio.scheduler={scheduler}")
        configs.append(Config(f"reuse 1 OFDMA {scheduler}", sets))
    for combining in ("mrc", "mmse_irc"):  # 4 receive antennas per AP, reuse 1
        sets = [f"protocol.rounds={rounds}", f"radio.combining={combining}"]
        configs.append(Config(f"reuse 1 4x {combining}", (*sets, "radio.antennas_per_ap=4")))
    return configs


def spectrum(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    rows, base_rate = [], {}
    for seed in seeds:
        for cfg in spectrum_configs(rounds):
            res = run("hex_umi", cfg.overrides, seed)
            tx = res.events[res.events.event == "tx_end"]
            rate = float(tx.rate_bps.mean())
            if cfg.label.startswith("reuse orthogonal"):
                base_rate[(seed, cfg.label.endswith("+PC"))] = rate
            pc = cfg.label.endswith("+PC")
            rows.append(
                {
                    "config": cfg.label,
                    "seed": seed,
                    "round_s": float(res.rounds.duration_s.mean()),
                    "uplink_J_per_round": float(tx.energy_j.sum()) / len(res.rounds),
                    "accuracy": res.final_accuracy,
                    "sim_time_s": res.sim_time_s,
                    "rate_Mbps": rate / 1e6,
                    "sinr_db": float(tx.snr_db.mean()),
                    "interference_dBm": float(10 * np.log10(tx.interference_w.mean() * 1e3))
                    if tx.interference_w.notna().any()
                    else math.nan,
                    "orthogonal_overstates": base_rate[(seed, pc)] / rate,
                }
            )
    return pd.DataFrame(rows)


def _to_target(rounds: pd.DataFrame, target: float) -> tuple[float, float]:
    """Simulated time (s) and PIU energy (J) until the test accuracy first reaches
    ``target`` (NaN: never)."""
    hit = np.flatnonzero(rounds.test_accuracy.to_numpy() >= target)
    if not hit.size:
        return math.nan, math.nan
    return float(rounds.t_end_s.iloc[hit[0]]), float(rounds.energy_j.iloc[: hit[0] + 1].sum())


NR_LINKS = {
    "shannon": ("radio.link=shannon",),
    "nr": ("radio.link=nr",),
    "nr 256QAM": ("radio.link=nr", "radio.mcs_table=2"),
}


def nr(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    rows, per_piu = [], []
    for seed in seeds:
        for scenario in ("default", "multi_ap"):
            rates = {}
            for link, sets in NR_LINKS.items():
                res = run(scenario, [f"protocol.rounds={rounds}", *sets], seed)
                ev = res.events
                tx = ev[ev.event.isin(["tx_end", "tx_fail"])]
                done = tx[tx.event == "tx_end"]
                time_90, energy_90 = _to_target(res.rounds, 0.9)
                rows.append(
                    {
                        "config": f"{scenario} {link}",
                        "seed": seed,
                        "airtime_s": float(done.duration_s.mean()),
                        "round_s": float(res.rounds.duration_s.mean()),
                        "uplink_J_per_round": float(tx.energy_j.sum()) / len(res.rounds),
                        "time_to_90_s": time_90,
                        "energy_to_90_J": energy_90,
                        "accuracy": res.final_accuracy,
                        "mcs": float(tx.mcs.mean()),
                        "tb_per_upload": float(tx.tb_count.astype(float).mean()),
                        "retx_per_upload": float(tx.harq_retx.astype(float).mean()),
                        "lost": int((tx.event == "tx_fail").sum()),
                        "uploads": len(tx),
                    }
                )
                rates[link] = done.groupby("node", observed=True).agg(
                    rate=("rate_bps", "mean"), snr_db=("snr_db", "mean")
                )
                if link != "shannon":
                    retx = tx.harq_retx.astype(float) / tx.tb_count.astype(float)
                    quantiles = retx.quantile([0.1, 0.5, 0.9, 1.0])
                    print(
                        f"{scenario} {link} seed {seed}: HARQ retransmissions per transport "
                        f"block of an upload ({len(tx)} uploads), quantiles 10/50/90/100 % = "
                        + " / ".join(f"{q:.3f}" for q in quantiles)
                    )
            for link in ("nr", "nr 256QAM"):
                both = rates["shannon"].add_suffix("_shannon").join(rates[link].add_suffix("_nr"))
                per_piu.append(both.assign(scenario=scenario, link=link))
    pius = pd.concat(per_piu)
    pius["ratio"] = pius.rate_nr / pius.rate_shannon
    pius["snr_db"] = pd.cut(pius.snr_db_shannon, [-10, 0, 5, 10, 15, 20, 25, 30, 40, 60])
    table = pius.groupby(["link", "snr_db"], observed=True).ratio.agg(
        ["count", "mean", "min", "max"]
    )
    print("NR / Shannon throughput of a PIU against its mean SNR (dB) with Shannon rates:")
    print(table.round(3).to_string())
    return pd.DataFrame(rows)


HIERARCHY = {
    "flat": (),
    "HierFAVG k1=1": ("hierarchy.k1=1", "hierarchy.k2=2"),
    "HierFAVG k1=2": ("hierarchy.k1=2", "hierarchy.k2=2"),
    "HierFAVG k1=5": ("hierarchy.k1=5", "hierarchy.k2=2"),
}
SHARED_UPLINK = ("gateway", "server")  # three_tier's 1 Gbit/s link to the cloud


def _background(share: float) -> tuple[str, ...]:
    """Background traffic at ``share`` of the shared uplink, each direction, as an
    aggregate of 50 connections (one flow would get one max-min share among the FL flows)."""
    if share == 0:
        return ()
    rate = share * 1e9
    flows = ", ".join(
        f'{{link = ["{u}", "{v}"], rate_bps = {rate:g}, flows = 50}}'
        for u, v in (SHARED_UPLINK, SHARED_UPLINK[::-1])
    )
    return (f"backhaul.background=[{flows}]",)


def _shared_mb(events: pd.DataFrame) -> float:
    """FL traffic over the shared uplink (both directions), in MB."""
    from netsim.analysis.breakdown import link_loads

    loads = link_loads(events)
    both = loads.src.isin(SHARED_UPLINK) & loads.dst.isin(SHARED_UPLINK)
    return float(loads.bits[both].sum()) / 8e6


def _where_time_goes(events: pd.DataFrame, flat: bool) -> dict[str, float]:
    """Mean seconds of a global round by component (see the module docstring)."""
    from netsim.analysis.breakdown import cloud_breakdown, latency_breakdown

    edge = latency_breakdown(events).mean(numeric_only=True)
    if flat:
        return {
            "backhaul+multicast_s": edge.downlink,
            "compute_s": edge.compute,
            "airtime_s": edge.queueing + edge.airtime,
            "fwd_to_server_s": edge.uplink,
            "wait+aggregation_s": edge.waiting + edge.aggregation,
        }
    cloud = cloud_breakdown(events).mean(numeric_only=True)
    return {
        "cloud_to_edge_s": cloud.to_edge,
        "edge_rounds_s": cloud.edge_rounds,
        "edge_to_cloud_s": cloud.to_cloud,
        "wait+aggregation_s": cloud.waiting + cloud.aggregation,
        "edge_round_s": edge.duration_s,
        "edge_backhaul+multicast_s": edge.downlink,
        "edge_airtime_s": edge.queueing + edge.airtime,
    }


def hierarchy(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    from netsim.log import global_rounds

    rows = []
    for seed in seeds:
        for share in (0.0, 0.5, 0.9):
            for label, sets in HIERARCHY.items():
                overrides = [f"protocol.rounds={rounds}", *sets, *_background(share)]
                res = run("three_tier", overrides, seed)
                made = global_rounds(res.rounds)
                time_90, energy_90 = _to_target(made, 0.9)
                ev = res.events
                row = {
                    "config": f"{label}, background {share:.0%}",
                    "seed": seed,
                    "time_to_90_s": time_90,
                    "energy_to_90_J": energy_90,
                    "accuracy": res.final_accuracy,
                    "round_s": float(made.duration_s.mean()),
                    "shared_MB_per_round": _shared_mb(ev) / len(made),
                    "shared_MB_to_90": _shared_mb(ev[ev.t_s <= time_90])
                    if math.isfinite(time_90)
                    else math.nan,
                    **_where_time_goes(ev, flat=label == "flat"),
                }
                rows.append(row)
                print(pd.DataFrame([row]).round(4).to_string(index=False), flush=True)
    return pd.DataFrame(rows)


ALGORITHM_BASE = (
    "topology.num_pius=20",
    "learning.model='mlp'",
    "learning.partition={kind = 'dirichlet', alpha = 0.1}",
    "learning.local_steps=20",
    "learning.optimizer={name = 'sgd', lr = 0.05, momentum = 0.0}",  # SCAFFOLD: plain SGD
)
ALGORITHMS = {
    "FedAvg": (),
    "FedProx mu=0.01": ("learning.algorithm='fedprox'", "learning.prox_mu=0.01"),
    "FedProx mu=0.5": ("learning.algorithm='fedprox'", "learning.prox_mu=0.5"),
    "SCAFFOLD": ("learning.algorithm='scaffold'",),
    "FedNova": ("learning.algorithm='fednova'",),
    "FedAdam lr=0.01": ("server.optimizer={name = 'adam', lr = 0.01}",),
}


def _to_target_uplink(rounds: pd.DataFrame, events: pd.DataFrame, target: float) -> float:
    """PIU uplink energy (J: transmissions, failed ones included) until the test accuracy
    first reaches ``target`` (NaN: never)."""
    hit = np.flatnonzero(rounds.test_accuracy.to_numpy() >= target)
    if not hit.size:
        return math.nan
    t = float(rounds.t_end_s.iloc[hit[0]])
    tx = events[events.event.isin(["tx_end", "tx_fail"]) & (events.t_s <= t)]
    return float(tx.energy_j.sum())


def _each_config(
    configs: dict[str, tuple[str, ...]],
    base: Sequence[str],
    rounds: int,
    seeds: Sequence[int],
    measure: Callable[[Any], dict[str, float]],
) -> pd.DataFrame:
    """Every config (label -> overrides on ``base``, default scenario) at every seed; a
    row is ``measure(result)``, printed as it comes."""
    rows = []
    for seed in seeds:
        for label, sets in configs.items():
            res = run(None, [f"protocol.rounds={rounds}", *base, *sets], seed)
            row = {"config": label, "seed": seed, **measure(res)}
            rows.append(row)
            print(pd.DataFrame([row]).round(4).to_string(index=False), flush=True)
    return pd.DataFrame(rows)


def algorithms(rounds: int, seeds: Sequence[int], png: str | None = None) -> pd.DataFrame:
    curves: list[pd.DataFrame] = []  # in the order of the runs: seeds, then configs

    def measure(res: Any) -> dict[str, float]:
        curves.append(_uplink_curve(res))
        return {
            "accuracy": res.final_accuracy,
            "best_accuracy": float(res.rounds.test_accuracy.max()),
            "time_to_80_s": _to_target(res.rounds, 0.8)[0],
            "uplink_J_to_80": _to_target_uplink(res.rounds, res.events, 0.8),
            "uplink_Mbit": float(res.rounds.uplink_bits.sum()) / 1e6,
            "sim_time_s": res.sim_time_s,
        }

    table = _each_config(ALGORITHMS, ALGORITHM_BASE, rounds, seeds, measure)
    if png:
        labels = [label for _ in seeds for label in ALGORITHMS]
        _plot_algorithms(list(zip(labels, curves, strict=True)), png)
    return table


def _uplink_curve(res: Any, metric: str = "test_accuracy") -> pd.DataFrame:
    """Per round: its number (from 1), end time (s), ``metric`` (test accuracy) and the
    PIUs' cumulative uplink energy (J)."""
    tx = res.events[res.events.event.isin(["tx_end", "tx_fail"])].sort_values("t_s")
    spent = np.concatenate([[0.0], tx.energy_j.cumsum().to_numpy()])
    ends = res.rounds.t_end_s.to_numpy()
    upto = np.searchsorted(tx.t_s.to_numpy(), ends, side="right")
    return pd.DataFrame(
        {"round": np.arange(1, len(ends) + 1), "t_end_s": ends, metric: res.rounds[metric],
         "uplink_j": spent[upto]}
    )  # fmt: skip


def _plot_algorithms(curves: list[tuple[str, pd.DataFrame]], png: str) -> None:
    _plot_two_panels(
        curves, "test_accuracy", "test accuracy",
        [("t_end_s", "simulated time (s)", 1.0, "linear"),
         ("uplink_j", "PIU uplink energy (J)", 1.0, "linear")],
        "Dirichlet(0.1) MNIST-5k, 20 PIUs: FL algorithms", png, legend_panel=1,
    )  # fmt: skip


def _plot_two_panels(
    curves: list[tuple[str, pd.DataFrame]],
    y: str,
    ylabel: str,
    panels: list[tuple[str, str, float, str]],
    title: str,
    png: str,
    legend_panel: int = 0,
) -> None:
    """``y`` against two x columns of each labelled curve (a label's first curve names
    it); panels: (column, axis label, factor, "linear" or "log" scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110, sharey=True)
    seen: set[str] = set()
    for label, c in curves:
        first = label not in seen
        seen.add(label)
        for ax, (x, _, factor, _) in zip(axes, panels, strict=True):
            ax.plot(c[x] * factor, c[y], label=label if first else None, lw=1.2)
    for ax, (_, xlabel, _, scale) in zip(axes, panels, strict=True):
        ax.set_xlabel(xlabel)
        ax.set_xscale(scale)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[legend_panel].legend(loc="best", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


BYZANTINE_BASE = (
    "topology.num_pius=20",
    "learning.model='mlp'",
    "learning.local_steps=10",
)
BYZANTINE_CLASS = (
    "device.classes=[{name = 'byzantine', pius = [0, 5, 10, 15], byzantine = 'sign_flip', "
    "byzantine_scale = 3.0}]"
)
BYZANTINE_RULES = {
    "FedAvg, no Byzantine PIU": ("server.aggregation='fedavg'",),
    "FedAvg": ("server.aggregation='fedavg'", BYZANTINE_CLASS),
    "median": ("server.aggregation='median'", BYZANTINE_CLASS),
    "trimmed mean 20 %": ("server.aggregation='trimmed_mean'", "server.trim_fraction=0.2",
                          BYZANTINE_CLASS),
    "Krum f=4": ("server.aggregation='krum'", "server.byzantine=4", BYZANTINE_CLASS),
    "Multi-Krum f=4": ("server.aggregation='multikrum'", "server.byzantine=4", BYZANTINE_CLASS),
    "Bulyan f=4": ("server.aggregation='bulyan'", "server.byzantine=4", BYZANTINE_CLASS),
}  # fmt: skip


def byzantine(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    def measure(res: Any) -> dict[str, float]:
        return {
            "accuracy": res.final_accuracy,
            "best_accuracy": float(res.rounds.test_accuracy.max()),
        }

    return _each_config(BYZANTINE_RULES, BYZANTINE_BASE, rounds, seeds, measure)


# --------------------------------------------------------------------------- DP

DP_UTILITY = (
    "topology.num_pius=100",
    "learning.model='linear'",
    "learning.local_steps=5",
    "protocol.clients_per_round=20",  # sampling rate q = 0.2
    "learning.optimizer={name = 'sgd', lr = 0.1, momentum = 0.0}",
)
# DLG's own best case on round 0: one sample, one step, one PIU's update in what the
# attacker sees (the round's only PIU: its update alone in the AP's over-the-air sum)
DP_ATTACK = (
    *DP_UTILITY,
    "learning.local_steps=1",
    "learning.batch_size=1",
    "learning.trainer='sequential'",
    "protocol.clients_per_round=1",
    "protocol.rounds=1",
)
DP_NOISE = (0.5, 1.0, 2.0)
DP_CLIENT_C = 0.1  # below every PIU's update norm: each one is clipped
DP_SAMPLE_C = 1.0  # per-sample gradients


def _dlg(position: str) -> str:
    pius = ", ".join(str(k) for k in range(100))
    return (
        f"attack={{method = 'dlg', position = '{position}', pius = [{pius}], rounds = [0], "
        "restarts = 2, iterations = 100, time_budget_s = 15.0, max_samples = 1}"
    )


def dp_configs() -> dict[str, tuple[tuple[str, ...], str]]:
    """label -> (overrides, the attacker's position): no DP, client-level DP-FedAvg
    digital and over the air (receiver noise not counted / counted at full power /
    counted with private power control), and sample-level DP-SGD, at each noise level."""
    ota = "ota.enabled=true"
    configs: dict[str, tuple[tuple[str, ...], str]] = {
        "no DP, digital": ((), "server"),
        "no DP, over the air": ((ota,), "ap"),
    }
    for z in DP_NOISE:
        client = f"level = 'client', noise_multiplier = {z}, clip_norm = {DP_CLIENT_C}"
        configs |= {
            f"client z={z}, digital": ((f"dp={{{client}}}",), "server"),
            f"client z={z}, OTA not counted": ((ota, f"dp={{{client}}}"), "ap"),
            f"client z={z}, OTA counted": ((ota, f"dp={{{client}, count_ota_noise = true}}"), "ap"),
            f"client z={z}, OTA counted, private power": (
                (ota, f"dp={{{client}, count_ota_noise = true, ota_power = 'private'}}"),
                "ap",
            ),
            f"sample z={z}, digital": (
                (f"dp={{level = 'sample', noise_multiplier = {z}, clip_norm = {DP_SAMPLE_C}}}",),
                "server",
            ),
        }
    return configs


def _z_air(events: pd.DataFrame) -> float:
    """The receiver noise's multiplier of the first over-the-air DP round (NaN: none)."""
    detail = events.loc[events.event == "aggregate", "detail"].str.extract(r"z_air ([\d.e+-]+)")
    return float(detail[0].astype(float).iloc[0]) if detail[0].notna().any() else math.nan


def dp(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    """Privacy against utility: per config, a utility run (100 PIUs, 20 a round, linear
    model on MNIST-5k, ``rounds`` rounds: epsilon at delta 1e-5, final accuracy, PIU uplink
    energy, the air's own noise multiplier) and an attack run (DLG on round 0 of the PIU
    the round picks, seen by the server or, over the air, by an eavesdropper at the AP:
    SSIM and MSE of its reconstruction)."""
    rows = []
    for seed in seeds:
        for label, (sets, position) in dp_configs().items():
            res = run(None, [f"protocol.rounds={rounds}", *DP_UTILITY, *sets], seed)
            attack = run(None, [*DP_ATTACK, *sets, _dlg(position)], seed).attacks.rows
            tx = res.events[res.events.event.isin(["tx_end", "tx_fail"])]
            row = {
                "config": label,
                "seed": seed,
                "epsilon": float(res.rounds.epsilon.iloc[-1]),
                "accuracy": res.final_accuracy,
                "uplink_J": float(tx.energy_j.sum()),
                "z_air": _z_air(res.events),
                "dlg_ssim": float(attack.ssim.mean()),
                "dlg_mse": float(attack.mse.mean()),
            }
            rows.append(row)
            print(pd.DataFrame([row]).round(4).to_string(index=False), flush=True)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- localization

LOCALIZATION_SCENARIOS = ("agv_localization", "street_localization")
SPLITS = ("spatial", "random")


# training to convergence: each PIU holds 10 % of its samples out as validation data; the
# run stops once their loss has not improved in LOCALIZATION_PATIENCE rounds (at most the
# study's --rounds)
LOCALIZATION_PATIENCE = 10
LOCALIZATION_VALIDATION = ("learning.eval_every=1", "learning.holdout_fraction=0.1",
                           f"protocol.patience={LOCALIZATION_PATIENCE}")  # fmt: skip


def localization(rounds: int, seeds: Sequence[int], png: str | None = None) -> pd.DataFrame:
    """Federated localization on the simulator's radio data sets (the bundled
    agv_localization and street_localization, spatial and random splits), trained to
    convergence (:data:`LOCALIZATION_VALIDATION`: at most ``rounds`` rounds): the federated
    model's test error (median, p90), the rounds it took and its PIUs' uplink energy,
    against centralised training (the federation's compute: rounds x local steps x PIUs
    mini-batch steps on all the data), local-only training (each PIU's own model, the same
    steps as in the federated run), kNN fingerprinting (k by cross-validation), a random
    forest, maximum-likelihood and linearised multilateration and weighted centroid. The
    baselines fit on every training row (the federation's validation share included)."""
    from analysis.radio import localization_baselines

    rows, curves = [], []
    for seed in seeds:
        for name in LOCALIZATION_SCENARIOS:
            for split in SPLITS:
                sets = [f"protocol.rounds={rounds}", f"learning.radio_data.split='{split}'",
                        f"seed={seed}"]  # fmt: skip
                s = load_scenario(name, [*sets, *LOCALIZATION_VALIDATION, *EXTRA_OVERRIDES])
                res = Simulation(s).run()
                curve = _uplink_curve(res, "test_median_error_m")
                curves.append((f"{name} {split}", curve))
                last = res.rounds.iloc[-1]
                ran = len(res.rounds)
                label = f"{name}, {split} split"
                rows.append(
                    {"config": f"{label}: federated", "seed": seed,
                     "median_m": last.test_median_error_m, "p90_m": last.test_p90_error_m,
                     "rounds": ran, "uplink_J": float(curve.uplink_j.iloc[-1]),
                     "sim_time_s": res.sim_time_s}
                )  # fmt: skip
                finished(rows[-1])
                base = load_scenario(name, [*sets, f"protocol.rounds={ran}", *EXTRA_OVERRIDES])
                local = ran * s.learning.local_steps
                table = localization_baselines(base, local * s.topology.n_pius, local)
                for _, b in table.iterrows():
                    rows.append({"config": f"{label}: {b.method}", "seed": seed,
                                 "median_m": b.median_m, "p90_m": b.p90_m})  # fmt: skip
                    finished(rows[-1])
    if png:
        _plot_localization(curves, png)
    return pd.DataFrame(rows)


def _plot_localization(curves: list[tuple[str, pd.DataFrame]], png: str) -> None:
    _plot_two_panels(
        curves, "test_median_error_m", "median test error (m)",
        # the hall's 10 dBm AGVs spend 40x less than the street's: a log axis
        [("round", "round", 1.0, "linear"), ("uplink_j", "PIU uplink energy (mJ)", 1e3, "log")],
        "Federated localization on the simulator's radio data sets", png,
    )  # fmt: skip


# --------------------------------------------------------------------------- closed loop

CLOSED_LOOP_BASE = (
    "learning.task='snr'",
    # SNR measured every 10 ms (2 coherence blocks): a selected PIU's upload starts ~8 ms
    # after the selection; slowly varying fading (Jakes at a 0.5 m/s Doppler) that a
    # predictor can follow
    "learning.radio_data={samples_per_piu = 600, interval_s = 0.01, fading_window = 2, "
    "snr_window = 8}",
    "radio.time_correlation='jakes'",
    "radio.speed_mps=0.5",
    "protocol.clients_per_round=10",
    "radio.target_rate_bps=9e7",  # fixed-rate uploads: a fade below it is an outage
    "radio.max_retransmissions=1",
)
CLOSED_LOOP = {
    "random": ("protocol.selection='random'",),
    "channel report (mean SNR)": ("protocol.selection='channel'",),
    "predictive, last value": ("protocol.selection='predictive'",
                               "protocol.predictor='last_value'"),
    "predictive, federated model": ("protocol.selection='predictive'",
                                    "protocol.predictor='model'"),
    "predictive, oracle": ("protocol.selection='predictive'", "protocol.predictor='oracle'"),
}  # fmt: skip


def closed_loop(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    """The closed loop on street_localization: 30 pedestrians learn a federated SNR
    predictor (learning.task = "snr") over fixed-rate uplinks, 10 a round; the server
    selects at random, by the reported mean SNR, or by the SNR forecast one measurement
    interval ahead (last value, the federated model being learned, an oracle). Per
    policy: mean round time, uploads lost to outage (after one retransmission), PIU
    uplink energy and the share of it spent on failed attempts, and the SNR model's own
    test RMSE (its learning's cost is the uplink energy of the run)."""
    from analysis.radio import snr_rmse_db

    def measure(res: Any) -> dict[str, float]:
        e = res.events
        tx = e[e.event.isin(["tx_end", "tx_fail"])]
        failed = e[e.event == "tx_fail"]
        return {
            "round_ms": 1e3 * float(res.rounds.t_end_s.diff().fillna(res.rounds.t_end_s).mean()),
            "lost_uploads": int(res.rounds.lost.sum()),
            "tx_fail": len(failed),
            "uplink_mJ": 1e3 * float(tx.energy_j.sum()),
            "failed_share": float(failed.energy_j.sum() / max(tx.energy_j.sum(), 1e-300)),
            "updates": int(res.rounds.aggregated.sum()),
            "rounds": len(res.rounds),
            "snr_rmse_db": snr_rmse_db(float(res.rounds.test_loss.iloc[-1]), res.scenario),
        }

    rows = []
    for seed in seeds:
        for label, sets in CLOSED_LOOP.items():
            overrides = [f"protocol.rounds={rounds}", *CLOSED_LOOP_BASE, *sets]
            res = run("street_localization", overrides, seed)
            rows.append({"config": label, "seed": seed, **measure(res)})
            finished(rows[-1])
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- ray tracing

# TR 38.901 InF on the same floor plan as factory_raytraced: sparse clutter (15 machines of
# 6 x 4 m and 2 shelf rows of 104 x 1 m cover 568 of 7,200 m^2: r = 0.08), APs above it
# (SH), clutter height the footprint-weighted mean (3 m machines, 5 m shelves: 3.7 m),
# d_clutter the machines' size (5 m)
RT_INF = ("radio.pathloss={model = 'inf_38901', variant = 'SH', clutter_density = 0.08, "
          "clutter_height_m = 3.7, clutter_size_m = 5.0}",)  # fmt: skip
RT_TRACED = ("radio.pathloss={model = 'raytraced', cell_m = 1.0, rays = 1000000, "
             "max_depth = 5, diffraction = true}",)  # fmt: skip
RT_LAYOUTS = {"8 APs (4 x 2)": (4, 2), "4 APs (4 x 1)": (4, 1), "4 APs (2 x 2)": (2, 2),
              "4 APs (1 x 4)": (1, 4)}  # fmt: skip


def raytracing_configs() -> dict[str, tuple[str, ...]]:
    """The ray-traced hall against TR 38.901 InF-SH on the same floor plan, for the bundled
    AP layout (its shipped maps) and three 4-AP layouts (traced here): a row along the
    middle (4 x 1), a square (2 x 2) and a column across the middle (1 x 4)."""
    out = {}
    for layout, (along, across) in RT_LAYOUTS.items():
        place = (f"topology.aps_along_length={along}", f"topology.aps_along_width={across}")
        shipped = (along, across) == (4, 2)
        out[f"ray-traced, {layout}"] = () if shipped else (*place, *RT_TRACED)
        out[f"InF-SH, {layout}"] = (*place, *RT_INF)
    return out


def raytracing(rounds: int, seeds: Sequence[int]) -> pd.DataFrame:
    """The bundled factory_raytraced hall (15 metal machines, 2 shelf rows) with its
    ray-traced channel against TR 38.901 InF-SH on the same floor plan, for 8 APs and three
    4-AP layouts: the uplinks' SNR (mean and 10th percentile over the uploads), mean round
    latency, final accuracy and the simulated time to 85 % test accuracy."""

    def measure(res: Any) -> dict[str, float]:
        e = res.events
        up = e[(e.event == "tx_end") & e.node.astype(str).str.startswith("piu")]
        r = res.rounds
        return {
            "snr_mean_db": float(up.snr_db.mean()),
            "snr_p10_db": float(up.snr_db.quantile(0.1)),
            "round_ms": 1e3 * float(r.duration_s.mean()),
            "final_accuracy": float(r.test_accuracy.iloc[-1]),
            "time_to_85_s": _to_target(r, 0.85)[0],
        }

    rows = []
    for seed in seeds:
        for label, sets in raytracing_configs().items():
            res = run("factory_raytraced", [f"protocol.rounds={rounds}", *sets], seed)
            rows.append({"config": label, "seed": seed, **measure(res)})
            finished(rows[-1])
    return pd.DataFrame(rows)


EXPERIMENTS = {
    "afcfl": (afcfl, 150),
    "pruning": (pruning, 80),  # the dense model converged (+0.2 points over its last 10)
    "emq": (emq, 20),
    "allocation": (allocation, 10),
    "privacy": (privacy, 15),
    "stragglers": (stragglers, 25),
    "spectrum": (spectrum, 10),
    "nr": (nr, 20),
    "hierarchy": (hierarchy, 15),
    "algorithms": (algorithms, 30),
    "byzantine": (byzantine, 20),
    "dp": (dp, 30),
    "localization": (localization, 400),  # at most: each run stops at its plateau
    "closed_loop": (closed_loop, 30),
    "raytracing": (raytracing, 10),
}


def _afcfl_claims() -> list[Claim]:
    """Table 6 of the AFC-FL paper (500 rounds): AFC-FL reaches 90 % after 86 rounds and
    5.265e7 uploaded parameters; the fixed settings after (rounds, parameters) below."""
    table6 = "AFC-FL reaches 90 % in the fewest rounds (AFC-FL paper, Table 6: 86 rounds)"
    fewer = "AFC-FL uploads the fewest parameters until 90 % (Table 6: 5.3e7)"
    fixed = {
        "F=1, C=100%": (98, 6.076e7),
        "F=1, C=90%": (329, 1.836e8),
        "F=5, C=100%": (221, 1.370e8),
        "F=5, C=90%": (459, 2.561e8),
    }
    return [
        *(
            Claim(
                table6,
                "AFC-FL",
                b,
                "rounds_to_90_censored",
                "lower",
                size=r - 86,
                censored_by="rounds_to_90",
            )  # fmt: skip
            for b, (r, _) in fixed.items()
        ),
        *(
            Claim(fewer, "AFC-FL", b, "params_to_90", "lower", size=p - 5.265e7)
            for b, (_, p) in fixed.items()
        ),
    ]


def _pruning_claims() -> list[Claim]:
    """The OTA-FL IMP paper's Figs. 3-6 (ResNet-18, CIFAR-10): IMP's gain over OSP, in
    accuracy points, where it reports one."""
    claim = (
        "IMP is more accurate than one-shot pruning at the same sparsity (OTA-FL IMP paper, "
        "Figs. 3-6)"
    )
    gains = {("full", 0.7): 0.11, ("full", 0.9): 0.23, ("partial", 0.7): 0.16,
             ("partial", 0.9): 0.20}  # fmt: skip
    return [
        Claim(
            claim,
            f"IMP {s:.0%} {part}",
            f"OSP {s:.0%} {part}",
            "final_accuracy",
            size=gains.get((part, s)),
        )  # fmt: skip
        for part in ("full", "partial")
        for s in SPARSITIES
    ]


def _allocation_claims() -> list[Claim]:
    statement = "SQP is more accurate than {} within the same budget (EMQ paper: {})"
    papers = {"dinkelbach": ("up to +7 %", 0.07), "max_sum_rate": ("+19 %", 0.19),
              "full_power": ("no figure", None)}  # fmt: skip
    # EMQ's saving, in Mbit: at least 49 % of full precision's 2,550 Mbit (10 rounds here)
    emq = "EMQ uploads at least 49 % fewer bits than full precision (EMQ paper)"
    # full power's first round costs about 3.8 J: within the smallest energy budget it never
    # completes one and scores the chance value, so SQP's lead there is the budget's doing
    chance = f"full power cannot finish a round within {min(ENERGY_BUDGETS_J):g} J"
    smallest = f"acc_within_{min(ENERGY_BUDGETS_J):g}J"
    return [
        *(
            Claim(statement.format(b, text), "sqp EMQ", f"{b} EMQ", metric, size=size,
                  by_construction=chance if (b, metric) == ("full_power", smallest) else None)
            for b, (text, size) in papers.items()
            for metric in _budget_columns()
        ),  # fmt: skip
        Claim(emq, "sqp EMQ", "sqp full", "uplink_Mbit", "lower", size=0.49 * 2550,
              by_construction="EMQ's exponent-mantissa code sends fewer bits per entry"),
    ]  # fmt: skip


def _privacy_claims() -> list[Claim]:
    fewer = "more local iterations make the {} reconstruction worse (AFC-FL paper, Table {})"
    sparser = "sparser uploads (top-k) make the {} reconstruction worse (AFC-FL paper, Table {})"
    at = f"@ {GAN_EQUAL_ACCURACY:.0%} accuracy"
    equal = " (at equal model accuracy)"
    return [
        *(Claim(fewer.format("DLG", 2), f"DLG F={f}", "DLG F=1", "ssim_mean", "lower")
          for f in STEPS[1:]),
        *(Claim(sparser.format("DLG", 4), f"DLG C={c:.0%}", "DLG F=1", "ssim_mean", "lower")
          for c in KEPT),
        *(Claim(fewer.format("GAN", 3), f"GAN F={f}", "GAN F=1", "ssim_mean", "lower")
          for f in STEPS[1:]),
        # the GAN's compressed runs train 20 local steps (the default scenario's)
        *(Claim(sparser.format("GAN", 5), f"GAN C={c:.0%}", "GAN F=20", "ssim_mean", "lower")
          for c in KEPT),
        *(Claim(fewer.format("GAN", 3) + equal, f"GAN F={f} {at}", f"GAN F=1 {at}",
                "ssim_mean", "lower") for f in STEPS[1:]),
        Claim(sparser.format("GAN", 5) + equal, f"GAN C=10% {at}", f"GAN F=20 {at}",
              "ssim_mean", "lower"),
    ]  # fmt: skip


# the papers' claims each study tests (docs/reproductions/NAME.md)
CLAIMS: dict[str, list[Claim]] = {
    "afcfl": _afcfl_claims(),
    "pruning": _pruning_claims(),
    "allocation": _allocation_claims(),
    "privacy": _privacy_claims(),
}

# the metric each study's figure shows (docs/reproductions/NAME.png)
FIGURES = {
    "afcfl": ("rounds_to_90_censored", "rounds to 90 % test accuracy (never: rounds + 1)"),
    "pruning": ("final_accuracy", "final test accuracy"),
    "emq": ("uplink_Mbit", "uplink Mbit"),
    "allocation": (f"acc_within_{TIME_BUDGET_S:g}s", f"test accuracy within {TIME_BUDGET_S:g} s"),
    "privacy": ("ssim_mean", "SSIM of the reconstructions (mean)"),
    "stragglers": ("accuracy_at_equal_time", "test accuracy at equal simulated time"),
    "spectrum": ("round_s", "mean round latency (s)"),
    "nr": ("round_s", "mean round latency (s)"),
    "hierarchy": ("time_to_90_s", "simulated time to 90 % (s)"),
    "algorithms": ("final_accuracy", "final test accuracy"),
    "byzantine": ("accuracy", "final test accuracy"),
    "dp": ("accuracy", "final test accuracy"),
    "localization": ("median_m", "median test error (m)"),
    "closed_loop": ("uplink_mJ", "PIU uplink energy (mJ)"),
    "raytracing": ("snr_mean_db", "mean uplink SNR (dB)"),
}


def _passed(args: argparse.Namespace) -> list[str]:
    """The options of a run that its command line in NAME.md should show."""
    out = [] if args.rounds is None else ["--rounds", str(args.rounds)]
    out += [f"--set {s}" for s in args.set]
    return out + ([] if args.only is None else ["--only", args.only])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--rounds", type=int, help="rounds per run (default per experiment)")
    parser.add_argument("--seeds", type=int, default=1, help="replications (seeds 1..N)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=1,
        metavar="K",
        help="seeds K..K+N-1 instead (a part of the seeds, e.g. one process per seed with "
        "--csv and --out ''; then --from-csv with every part)",
    )
    parser.add_argument(
        "--csv",
        help="also write the per-seed table here (and each run's row to CSV.partial as it "
        "finishes, removed when the study completes; a study does not start over one)",
    )
    parser.add_argument(
        "--only",
        help="privacy: only the configs whose label contains this (written as "
        "privacy_TEXT.*, lower case)",
    )
    parser.add_argument("--png", help="stragglers, algorithms, localization: write the figure here")
    parser.add_argument(
        "--out",
        default=str(claims.OUT),
        help="folder for NAME.csv / NAME.md / NAME.png (means with 95 %% CIs, the papers' "
        "claims and their verdicts); '' writes nothing (default: %(default)s)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override for every run, after the experiment's own (e.g. "
        "learning.backend=processes: the same results on a worker pool)",
    )
    parser.add_argument(
        "--from-csv",
        metavar="FILE",
        nargs="+",
        help="run nothing: write the tables, claims and figure from these per-seed tables "
        "(NAME.csv or --csv files of runs, concatenated; pass the runs' --rounds, --set and "
        "--only again)",
    )
    args = parser.parse_args(argv)
    EXTRA_OVERRIDES[:] = args.set
    fn, default_rounds = EXPERIMENTS[args.experiment]
    extra = {"only": args.only} if args.only else {}
    if args.png:
        extra["png"] = args.png
    if args.from_csv:  # the tables, claims and figure again, from a run's per-seed table
        table = pd.concat([pd.read_csv(f) for f in args.from_csv], ignore_index=True)
        if table.duplicated(["config", "seed"]).any():
            raise SystemExit("--from-csv: the tables share a (config, seed); give each seed once")
        # the study's order: configurations as they first appear, then seeds
        order = {c: i for i, c in enumerate(dict.fromkeys(table.config))}
        table = table.sort_values(
            ["config", "seed"], key=lambda c: c.map(order) if c.name == "config" else c
        )
        table = table.reset_index(drop=True)
        argv = [args.experiment, "--seeds", str(table.seed.nunique()), *_passed(args)]
    else:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        partial = Path(f"{args.csv}.partial") if args.csv else None
        if partial is not None:
            if partial.exists():  # an interrupted study's rows: never thrown away unasked
                raise SystemExit(
                    f"{partial} holds the rows of an interrupted study: write its pages with "
                    f"--from-csv {partial} (and run the missing seeds with --first-seed), or "
                    "delete it to start again"
                )
            PARTIAL[:] = [partial]
        table = fn(args.rounds or default_rounds, seeds, **extra)
        if partial is not None:
            partial.unlink(missing_ok=True)
    if args.csv:
        table.to_csv(args.csv, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(claims.summary(table).to_string(index=False))
    if args.out:
        command = " ".join(["python -m benchmarks.experiments", *(argv or sys.argv[1:])])
        # --only: a part of the study, written apart, with the claims it can test
        name = args.experiment + (f"_{args.only.lower()}" if args.only else "")
        ran = set(table.config)
        tested = [c for c in CLAIMS.get(args.experiment, ()) if {c.winner, c.baseline} <= ran]
        verdicts = claims.write_study(
            name, table, tested, command, FIGURES.get(args.experiment), Path(args.out)
        )
        for v in verdicts:
            print(
                f"{v.outcome:>15}: {v.claim.winner} vs {v.claim.baseline} on {v.claim.metric}: "
                f"difference {v.difference:.4g} ± {v.half_width:.2g} ({v.seeds} seeds)"
            )
        print(f"wrote {Path(args.out) / name}.md / .csv / .png")


if __name__ == "__main__":
    main()
