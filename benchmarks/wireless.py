"""The FL-for-wireless page (docs/reproductions/wireless.md), written from the per-seed
tables of the ``localization`` and ``closed_loop`` studies (issue 41):

    python -m benchmarks.wireless [--localization CSV] [--closed-loop CSV] [--out FILE]

Nothing is run: every number on the page is computed here from the two CSVs (by default
docs/reproductions/localization.csv and closed_loop.csv, which
``python -m benchmarks.experiments localization|closed_loop --seeds N`` write), with the
verdict rule of :mod:`benchmarks.claims` (paired over seeds, Student-t interval, paired
t-test, Holm's correction over each study's comparisons). The conclusions are written by
code from the verdicts, whichever way they fall.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import claims
from benchmarks.claims import Claim, Verdict

HERE = claims.OUT
PAGE = HERE / "wireless.md"
SCENARIOS = {"agv_localization": "AGV hall (InF-DH)", "street_localization": "street (UMi)"}
BASELINES = ("centralised", "local-only", "kNN fingerprinting", "random forest", "ML lateration",
             "weighted centroid", "multilateration")  # fmt: skip
POLICIES = ("random", "channel report (mean SNR)", "predictive, last value",
            "predictive, federated model", "predictive, oracle")  # fmt: skip
BOOTSTRAP = 10_000  # resamples of the seeds for the break-even horizon's interval

# the plain words of the rule's outcomes on a comparison "A better than B"
WORDS = {
    "reproduced": "{a} better",
    "reproduced, smaller than claimed": "{a} better",
    "not reproduced": "{b} better",
    "not reproduced at the claimed size": "{b} better",
    "inconclusive": "no difference shown",
}


def localization_claims(table: pd.DataFrame) -> list[Claim]:
    """Federated against each baseline on the median test error, spatial split (the split
    that measures generalisation to unseen places), in every scenario of the table."""
    out = []
    for name in SCENARIOS:
        label = f"{name}, spatial split"
        for b in BASELINES:
            if f"{label}: {b}" in set(table.config):
                out.append(
                    Claim(f"federated localises better than {b} ({SCENARIOS[name]})",
                          f"{label}: federated", f"{label}: {b}", "median_m", "lower")
                )  # fmt: skip
    return out


def closed_loop_claims(table: pd.DataFrame) -> list[Claim]:
    """Each selection policy against random selection, and the federated forecast against
    the last value, on failed attempts (transmissions lost to outage)."""
    pairs = [(p, "random") for p in POLICIES[1:]]
    pairs.append(("predictive, federated model", "predictive, last value"))
    present = set(table.config)
    return [
        Claim(f"{a} causes fewer failed attempts than {b}", a, b, "tx_fail", "lower")
        for a, b in pairs
        if {a, b} <= present
    ]


def _verdict_rows(verdicts: Sequence[Verdict], short: dict[str, str]) -> pd.DataFrame:
    rows = []
    for v in verdicts:
        a, b = short[v.claim.winner], short[v.claim.baseline]
        where = v.claim.winner.split(",", 1)[0]  # a localization config's scenario
        rows.append(
            {
                **({"scenario": SCENARIOS[where]} if where in SCENARIOS else {}),
                "comparison": f"{a} - {b}",
                "metric": v.claim.metric,
                "difference (95 % CI)": claims.pm(v.difference, v.half_width),
                "n": v.seeds,
                "p": claims.p_text(v.p),
                "p (Holm)": claims.p_text(v.p_holm),
                "signed-rank p": claims.p_text(claims.signed_rank_p(v.differences)),
                "per seed": v.per_seed,
                "verdict": WORDS[v.outcome].format(a=a, b=b),
            }
        )
    return pd.DataFrame(rows)


def _means(table: pd.DataFrame, configs: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    rows = []
    for c in configs:
        group = table[table.config == c]
        if group.empty:
            continue
        row: dict[str, object] = {"method": c.split(": ", 1)[-1], "n": len(group)}
        for col in columns:
            if col in group and group[col].notna().any():
                row[col] = claims.pm(*claims.mean_ci(group[col]))
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def horizon(cost: np.ndarray, gain: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Rounds for a saving of ``gain`` (per seed, J a round) to repay a cost of ``cost`` (per
    seed, J): the ratio of their means over the seeds, with a percentile bootstrap 95 %
    interval over resampled seeds (``BOOTSTRAP`` resamples, seeded). inf where the mean
    saving is not positive (it never pays off)."""
    rng = np.random.default_rng(seed)

    def ratio(c: np.ndarray, g: np.ndarray) -> np.ndarray:
        mean_g = g.mean(axis=-1)
        return np.where(mean_g > 0, c.mean(axis=-1) / np.where(mean_g > 0, mean_g, 1), np.inf)

    idx = rng.integers(0, len(cost), size=(BOOTSTRAP, len(cost)))
    boot = ratio(cost[idx], gain[idx])
    # no interpolation between resamples: an interval may reach "never" (inf)
    low, high = np.percentile(boot, [2.5, 97.5], method="inverted_cdf")
    return float(ratio(cost, gain)), float(low), float(high)


def _rounds(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:,.0f}"


def localization_section(table: pd.DataFrame) -> list[str]:
    """The localization study's tables, comparisons and conclusions."""
    verdicts = claims.judge_all(table, localization_claims(table))
    short = {c: c.split(": ", 1)[-1] for c in table.config.unique()}
    seeds = table.seed.nunique()
    lines = [
        "## Localization from received power",
        "",
        f"{seeds} seeds ({table.seed.min()}..{table.seed.max()}); each seed draws the AGVs' "
        "and pedestrians' routes, the shadowing and LOS maps, the fading and the split. "
        "Test error in m (median and 90th percentile over the test positions), mean over "
        "seeds ± the Student-t 95 % half-width. The federated model trains to "
        "convergence: each PIU holds 10 % of its samples out, and the run stops once "
        "their loss has not improved in 10 rounds (`rounds`: where it stopped). The "
        "centralised and local-only models get the federation's compute (its rounds x "
        "local steps, x PIUs for the centralised one); every baseline fits on all "
        "training rows (the federation's "
        "validation share included).",
        "",
    ]
    lines += [*_blocks(), ""]
    for name, title in SCENARIOS.items():
        for split in ("spatial", "random"):
            label = f"{name}, {split} split"
            configs = [f"{label}: federated", *(f"{label}: {b}" for b in BASELINES)]
            frame = _means(table, configs, ["median_m", "p90_m", "rounds", "uplink_J"])
            if frame.empty:
                continue
            lines += [f"### {title}, {split} split", "", claims.markdown_table(frame), ""]
    if verdicts:
        lines += [
            "### Federated against each baseline (spatial split)",
            "",
            "Paired over seeds on the median error (federated - baseline: negative favours "
            "the federated model); p of the paired t-test, corrected over these "
            f"{len(verdicts)} comparisons by Holm's method (the Wilcoxon signed-rank p, "
            "uncorrected, as a check where the per-seed differences are skewed); verdict "
            "by the rule of "
            "[the reproductions](../reproductions.md#how-a-claim-is-judged): better where "
            "the corrected p is below 0.05.",
            "",
            claims.markdown_table(_verdict_rows(verdicts, short)),
            "",
            *_localization_conclusions(table, verdicts),
        ]
    return lines


def _blocks() -> list[str]:
    """The spatial split's cell size against the scenarios' correlation distances."""
    from netsim import load_scenario

    lines = []
    for name, title in SCENARIOS.items():
        s = load_scenario(name)
        block, shadow = s.learning.radio_data.block_m, s.radio.spatial_consistency_m
        los = s.radio.los_correlation
        assert shadow is not None and los is not None
        relation = "above" if block > los else "below"
        lines.append(
            f"- {title}: the spatial split holds out whole {block:g} m cells (at least 4 a "
            f"seed where there are enough), above the shadowing's {shadow:g} m correlation "
            f"distance and {relation} the LOS state's {los:g} m (TR 38.901 Table 7.6.3.1-2)"
            + (": a held-out cell's LOS states still correlate with its neighbours'."
               if relation == "below" else ".")
        )  # fmt: skip
    return lines


def _localization_conclusions(table: pd.DataFrame, verdicts: Sequence[Verdict]) -> list[str]:
    lines = ["**What follows from it** (written by code from the verdicts above):", ""]
    for name, title in SCENARIOS.items():
        mine = [v for v in verdicts if v.claim.winner.startswith(f"{name},")]
        if not mine:
            continue
        better = [v.claim.baseline.split(": ")[-1] for v in mine if v.outcome.startswith("not")]
        worse = [v.claim.baseline.split(": ")[-1] for v in mine
                 if v.outcome.startswith("reproduced")]  # fmt: skip
        level = [v.claim.baseline.split(": ")[-1] for v in mine if v.outcome == "inconclusive"]
        label = f"{name}, spatial split"
        spatial = table[table.config.str.startswith(label)]
        best = spatial.groupby("config").median_m.mean().sort_values()
        text = (
            f"- {title}: the lowest mean median error is {best.index[0].split(': ')[-1]}'s "
            f"({best.iloc[0]:.1f} m; federated {best[f'{label}: federated']:.1f} m). "
        )
        if better:
            text += f"Better than the federated model: {', '.join(better)}. "
        if worse:
            text += f"Worse: {', '.join(worse)}. "
        if level:
            text += f"Not distinguishable from it at these seeds: {', '.join(level)}. "
        random = table[table.config == f"{name}, random split: kNN fingerprinting"].median_m
        if not random.empty:
            text += (
                f"On the random split kNN fingerprinting reaches {random.mean():.1f} m "
                f"against {best.get(f'{label}: kNN fingerprinting', math.nan):.1f} m on "
                "unseen cells: test points beside training points are looked up, not "
                "generalised to."
            )
        lines.append(text)
    return [*lines, ""]


def closed_loop_section(table: pd.DataFrame) -> list[str]:
    """The closed loop's table, comparisons and the predictor's cost against its gain."""
    verdicts = claims.judge_all(table, closed_loop_claims(table))
    short = {c: c for c in table.config.unique()}
    seeds = table.seed.nunique()
    rounds = int(table["rounds"].iloc[0]) if "rounds" in table else math.nan
    columns = ["round_ms", "tx_fail", "lost_uploads", "uplink_mJ", "failed_share", "snr_rmse_db"]
    lines = [
        "## The closed loop: selecting PIUs by a forecast SNR",
        "",
        f"{seeds} seeds, {rounds} rounds each: street_localization's 30 pedestrians learn a "
        'federated SNR predictor (`learning.task = "snr"`, SNR every 10 ms, a window of '
        "8, Jakes fading at 0.5 m/s) over fixed-rate 90 Mbit/s uplinks with one "
        "retransmission, 10 a round; the server selects at random, by the reported mean "
        "SNR, or by the SNR forecast one interval ahead (the last value, the federated model "
        "being learned, an oracle that knows the SNR that will come true: a bound, not a "
        "method). `tx_fail`: attempts lost to outage; `failed_share`: the share of the PIUs' "
        "uplink energy spent on them; `snr_rmse_db`: the SNR model's test RMSE.",
        "",
        claims.markdown_table(_means(table, POLICIES, columns)),
        "",
    ]
    if verdicts:
        lines += [
            "### Comparisons",
            "",
            f"Paired over seeds on failed attempts; Holm over these {len(verdicts)} "
            "comparisons (signed-rank p: the Wilcoxon test's, uncorrected, a check on the "
            "t-test where the per-seed differences are skewed).",
            "",
            claims.markdown_table(_verdict_rows(verdicts, short)),
            "",
        ]
        lines += _closed_loop_conclusions(verdicts)
    lines += _payoff(table, rounds)
    return lines


def _closed_loop_conclusions(verdicts: Sequence[Verdict]) -> list[str]:
    """Each comparison in words, with its relative change, from its verdict."""
    lines = ["**What follows from it** (written by code from the verdicts above):", ""]
    for v in verdicts:
        a, b = v.claim.winner, v.claim.baseline
        change = 100 * v.difference / v.baseline_mean
        interval = 100 * v.half_width / v.baseline_mean
        outcome = WORDS[v.outcome].format(a=a, b=b)
        if outcome == "no difference shown":
            said = f"{a} is not distinguishable from {b}"
        else:
            said = f"{outcome.removesuffix(' better')} causes fewer failed attempts"
        lines.append(
            f"- {a} against {b}: {change:+.0f} % failed attempts (± {interval:.0f} %, "
            f"n {v.seeds}, Holm p {claims.p_text(v.p_holm)}): {said}."
        )
    return [*lines, ""]


def _payoff(table: pd.DataFrame, rounds: float) -> list[str]:
    """The federated predictor's learning cost against its saving a round."""
    pivot = table.pivot_table(index="seed", columns="config", values="uplink_mJ")
    need = ["random", "predictive, last value", "predictive, federated model"]
    if not set(need) <= set(pivot.columns) or math.isnan(rounds):
        return []
    pivot = pivot[need].dropna() / 1e3  # J
    cost = pivot["predictive, federated model"].to_numpy()
    lines = [
        "### What the predictor costs and what it saves",
        "",
        f"Learning the SNR model costs its run's whole PIU uplink energy ({cost.mean():.3f} J "
        f"for {rounds:.0f} rounds). Selecting by it saves, a round, the uplink energy it "
        "spares against another policy (paired per seed, measured while it learns: a "
        "trained model's saving may be larger, the oracle's is the most). Rounds of "
        "selection that repay the cost (ratio of means; percentile bootstrap 95 % interval "
        f"over the seeds, {BOOTSTRAP:,} resamples):",
        "",
        "| against | saving a round (mJ, 95 % CI) | rounds to repay (95 % CI) |",
        "|---|---|---|",
    ]
    for other in ("random", "predictive, last value"):
        gain = (pivot[other] - pivot["predictive, federated model"]).to_numpy() / rounds
        h, low, high = horizon(cost, gain)
        mean, hw = claims.mean_ci(gain * 1e3)
        lines.append(
            f"| {other} | {claims.pm(mean, hw)} | {_rounds(h)} ({_rounds(low)} - {_rounds(high)}) |"
        )
    last = (pivot["random"] - pivot["predictive, last value"]).to_numpy() / rounds * 1e3
    mean, hw = claims.mean_ci(last)
    lines += [
        "",
        f"The last value costs nothing to learn and saves {claims.pm(mean, hw)} mJ a round "
        "against random selection.",
        "",
    ]
    return lines


def write_page(localization: Path | None, closed_loop: Path | None, out: Path = PAGE) -> None:
    """Write the page from the studies' per-seed CSVs (None or a missing file: that section
    is left out)."""
    lines = [
        "# FL for wireless: localization and the closed loop",
        "",
        "Written by `python -m benchmarks.wireless` from the studies' per-seed tables "
        "([localization.csv](localization.csv), [closed_loop.csv](closed_loop.csv)); "
        "rerun a study with `python -m benchmarks.experiments localization --seeds 10` "
        "(or `closed_loop`). The radio data sets, the models and the baselines are those "
        "of [the radio data guide](../guides/radio-data.md).",
        "",
    ]
    if localization is not None and localization.exists():
        lines += localization_section(pd.read_csv(localization))
    if closed_loop is not None and closed_loop.exists():
        lines += closed_loop_section(pd.read_csv(closed_loop))
    out.write_text("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--localization", type=Path, default=HERE / "localization.csv")
    parser.add_argument("--closed-loop", type=Path, default=HERE / "closed_loop.csv")
    parser.add_argument("--out", type=Path, default=PAGE)
    args = parser.parse_args(argv)
    write_page(args.localization, args.closed_loop, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
