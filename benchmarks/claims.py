"""Means with 95 % confidence intervals over seeds, the papers' claims tested on them, and
the files each study writes under ``docs/reproductions/`` (issue 26).

Every configuration of a study runs with the same seeds (seed s draws the same data
partition, positions and channels in every configuration), so a claim "A beats B" is tested
on the per-seed differences A - B (a paired comparison): their mean with a Student-t 95 %
interval, and the paired t-test's two-sided p. A study tests several claims, so their p are
corrected together (Holm 1979: the i-th smallest of m is multiplied by m - i + 1, then made
non-decreasing), and the verdict rule, written once (:attr:`Verdict.outcome`), is

* **reproduced**: the corrected p is below 0.05 and the difference lies on the side the
  paper claims ("smaller than claimed" added when the paper gives a size and the whole
  interval lies below it);
* **not reproduced**: the corrected p is below 0.05 and the difference lies on the other
  side (the opposite holds here), or the interval lies entirely below the size the paper
  claims (no effect of that size);
* **inconclusive**: neither (these seeds cannot tell);
* **holds by construction**: the claim follows from the configuration itself (e.g. a bit
  saving from the bit width), so a run cannot test it; its numbers are shown, not judged.

With one claim the corrected p is the raw one, and p < 0.05 is exactly the 95 % interval
excluding 0. The per-seed differences are shown beside each verdict: where they split into
two groups (a round within the budget or none) a t interval summarises them poorly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from netsim.sweep import mean_ci95

OUT = Path(__file__).resolve().parent.parent / "docs" / "reproductions"


def mean_ci(values: Sequence[float] | np.ndarray | pd.Series) -> tuple[float, float]:
    """(mean, half-width of the two-sided Student-t 95 % interval) of ``values``, NaN
    ignored (the sweeps' :func:`netsim.sweep.mean_ci95` on the rest); the half-width is NaN
    with fewer than two values, 0 when they agree."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan
    return mean_ci95(pd.Series(x))


@dataclass(frozen=True)
class Claim:
    """A paper's statement, as a comparison of two configurations of a study on one metric.

    paper: what the paper states (and where); winner / baseline: configuration labels;
    metric: a column of the study's table; better: "higher" or "lower" (which side of the
    metric the paper says the winner is on); size: the difference the paper reports, in
    the metric's units and the paper's direction (None: the paper gives none);
    by_construction: why the claim holds by the configuration itself (None: it is tested);
    censored_by: a column that is NaN where the metric is censored (a run that never got
    there counted as its rounds + 1): where a pair holds one, the difference is only a
    bound, and no verdict about the paper's size is drawn from it.
    """

    paper: str
    winner: str
    baseline: str
    metric: str
    better: str = "higher"
    size: float | None = None
    by_construction: str | None = None
    censored_by: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A claim tested: the mean per-seed difference winner - baseline and its 95 % interval
    half-width over ``seeds`` paired seeds, the paired t-test's two-sided ``p`` and ``p``
    corrected over the study's claims (``p_holm``; the raw p for a claim alone), and the
    per-seed differences."""

    claim: Claim
    winner_mean: float
    baseline_mean: float
    difference: float
    half_width: float
    seeds: int
    p: float = math.nan
    p_holm: float = math.nan
    differences: tuple[float, ...] = ()
    censored: int = 0  # pairs with a censored value (Claim.censored_by)

    ALPHA = 0.05  # the family-wise error rate of a study's claims

    @property
    def verdict_text(self) -> str:
        """The outcome, with why a claim holds by construction where it does."""
        why = self.claim.by_construction
        return self.outcome + ("" if why is None else f": {why}")

    @property
    def per_seed(self) -> str:
        """The per-seed differences, 3 significant digits each."""
        return ", ".join(f"{x:.3g}" for x in self.differences)

    @property
    def outcome(self) -> str:
        """The verdict (the rule of the module docstring)."""
        if self.claim.by_construction is not None:
            return "holds by construction"
        if math.isnan(self.half_width) or math.isnan(self.p_holm):
            return "inconclusive"
        sign = 1.0 if self.claim.better == "higher" else -1.0
        # the interval in the paper's direction: positive = the paper's side
        high = max(sign * (self.difference - self.half_width),
                   sign * (self.difference + self.half_width))  # fmt: skip
        # a censored pair's difference is a bound: nothing follows about the size
        below_size = self.claim.size is not None and high < self.claim.size and not self.censored
        bound = (
            f" ({self.censored} of {self.seeds} pairs censored: the difference is a bound)"
            if self.censored
            else ""
        )
        if self.p_holm < self.ALPHA and sign * self.difference > 0:
            return ("reproduced, smaller than claimed" if below_size else "reproduced") + bound
        if self.p_holm < self.ALPHA:
            return "not reproduced" + bound
        if below_size:
            return "not reproduced at the claimed size"
        return "inconclusive" + bound


def judge(table: pd.DataFrame, claim: Claim) -> Verdict:
    """Test ``claim`` on a study's per-seed ``table`` (columns config, seed, the metric):
    seeds where both configurations have a value are paired."""
    pivot = table.pivot_table(index="seed", columns="config", values=claim.metric, dropna=False)
    for label in (claim.winner, claim.baseline):
        if label not in pivot.columns:
            raise KeyError(f"claim on {claim.metric}: no configuration {label!r} in the table")
    pair = pivot[[claim.winner, claim.baseline]].dropna()
    diff = (pair[claim.winner] - pair[claim.baseline]).to_numpy()
    d, hw = mean_ci(diff)
    p = paired_p(diff)
    censored = 0
    if claim.censored_by is not None and claim.censored_by in table:
        by = table.pivot_table(index="seed", columns="config", values=claim.censored_by,
                               dropna=False).reindex(pair.index)  # fmt: skip
        censored = int(by[[claim.winner, claim.baseline]].isna().any(axis=1).sum())
    return Verdict(
        claim, float(pair[claim.winner].mean()), float(pair[claim.baseline].mean()), d, hw,
        len(pair), p, p, tuple(float(x) for x in diff), censored,
    )  # fmt: skip


def paired_p(differences: Sequence[float] | np.ndarray) -> float:
    """Two-sided p of the paired t-test that the per-seed ``differences`` have mean 0 (NaN
    with fewer than two; 0 when they agree and are not 0, 1 when all are 0)."""
    from scipy import stats

    x = np.asarray(differences, dtype=float)
    if x.size < 2:
        return math.nan
    sd = float(x.std(ddof=1))
    if sd == 0.0:
        return 1.0 if float(x.mean()) == 0.0 else 0.0
    t_stat = float(x.mean()) / (sd / math.sqrt(x.size))
    return float(2 * stats.t.sf(abs(t_stat), x.size - 1))


def signed_rank_p(differences: Sequence[float]) -> float:
    """Two-sided p of the Wilcoxon signed-rank test on the per-seed differences (exact for
    few seeds): a check on the t-test where the differences are skewed or bimodal (NaN
    with fewer than two, 1 when all are 0)."""
    from scipy import stats

    x = np.asarray(differences, dtype=float)
    if x.size < 2:
        return math.nan
    if not x.any():
        return 1.0
    return float(stats.wilcoxon(x).pvalue)


def holm(ps: Sequence[float]) -> list[float]:
    """Holm's step-down correction of ``ps`` (NaN stays NaN and is not counted): the i-th
    smallest of the m valid p times m - i + 1, made non-decreasing, at most 1."""
    valid = sorted((p, i) for i, p in enumerate(ps) if not math.isnan(p))
    out = [math.nan] * len(ps)
    running = 0.0
    for rank, (p, i) in enumerate(valid):
        running = max(running, min(1.0, (len(valid) - rank) * p))
        out[i] = running
    return out


def judge_all(table: pd.DataFrame, claims: Sequence[Claim]) -> list[Verdict]:
    """Every claim of a study judged on its ``table``, their p corrected together (Holm);
    claims that hold by construction are not counted in the correction."""
    verdicts = [judge(table, c) for c in claims]
    tested = [i for i, c in enumerate(claims) if c.by_construction is None]
    corrected = holm([verdicts[i].p for i in tested])
    adjusted = dict(zip(tested, corrected, strict=True))
    return [replace(v, p_holm=adjusted.get(i, math.nan)) for i, v in enumerate(verdicts)]


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (in order of first appearance) and numeric column: "mean ± half
    width" strings (4 significant digits), with the seeds that ran."""
    metrics = [
        c
        for c in table.columns
        if c not in ("config", "seed") and pd.api.types.is_numeric_dtype(table[c])
    ]
    rows = []
    for config, group in table.groupby("config", sort=False):
        row = {"config": config, "seeds": len(group)}
        for m in metrics:
            mean, hw = mean_ci(group[m])
            row[m] = pm(mean, hw)
        rows.append(row)
    return pd.DataFrame(rows)


def pm(mean: float, hw: float) -> str:
    """The mean ± its half-width (4 and 2 significant digits), the mean alone without an
    interval, "n/a" without a mean."""
    if math.isnan(mean):
        return "n/a"
    if math.isnan(hw):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {hw:.2g}"


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a GitHub-flavoured Markdown table."""
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def verdict_table(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "paper's claim": v.claim.paper,
                "metric": v.claim.metric,
                "paper's size": "" if v.claim.size is None else f"{v.claim.size:.4g}",
                "winner": f"{v.claim.winner}: {v.winner_mean:.4g}",
                "baseline": f"{v.claim.baseline}: {v.baseline_mean:.4g}",
                "difference (95 % CI)": pm(v.difference, v.half_width),
                "n": v.seeds,
                "p": p_text(v.p),
                "p (Holm)": p_text(v.p_holm),
                "per seed": v.per_seed,
                "verdict": v.verdict_text,
            }
            for v in verdicts
        ]
    )


def p_text(p: float) -> str:
    """A p-value to 2 significant digits ("n/a": none)."""
    return "n/a" if math.isnan(p) else f"{p:.2g}"


def write_study(
    name: str,
    table: pd.DataFrame,
    claims: Sequence[Claim],
    command: str,
    figure: tuple[str, str] | None = None,
    out: Path = OUT,
) -> list[Verdict]:
    """Write ``NAME.csv`` (the per-seed table), ``NAME.md`` (means ± 95 % CI, the claims and
    their verdicts, the command that produced them) and, with ``figure`` = (metric, axis
    label), ``NAME.png`` (that metric's mean per configuration with its interval) into
    ``out``; return the verdicts."""
    out.mkdir(parents=True, exist_ok=True)
    verdicts = judge_all(table, claims)
    table.to_csv(out / f"{name}.csv", index=False)
    seeds = table.seed.nunique()
    lines = [
        f"# {name}: {seeds} seeds",
        "",
        f"Produced by `{command}` (per-seed values: [{name}.csv]({name}.csv)). Means over "
        "seeds ± the half-width of the Student-t 95 % confidence interval.",
        "",
    ]
    if verdicts:
        lines += [
            "## Claims",
            "",
            "Paired over seeds: the difference winner - baseline per seed, its mean and "
            "95 % interval (Student t), the paired t-test's p and p corrected over this "
            "study's claims (Holm). Reproduced: corrected p < 0.05 on the paper's side of 0 "
            "(smaller than claimed: the interval below the paper's size); not reproduced: "
            "corrected p < 0.05 on the other side, or the interval below the paper's size "
            "(no effect of that size); inconclusive: neither; holds by construction: the "
            "configuration implies it (shown, not judged, not counted in the correction). "
            "The paper's size is in the metric's units, in the paper's direction. Accuracies "
            "bounded in [0, 1] whose seeds split between two outcomes (a round in the budget "
            "or none) give wide t intervals: read the per-seed differences.",
            "",
            markdown_table(verdict_table(verdicts)),
            "",
        ]
    if figure is not None:
        _plot(table, *figure, out / f"{name}.png", f"{name}: {seeds} seeds, 95 % CI")
        lines += [f"![{figure[1]}]({name}.png)", ""]
    lines += ["## Every configuration", "", markdown_table(summary(table)), ""]
    (out / f"{name}.md").write_text("\n".join(lines))
    return verdicts


def _plot(table: pd.DataFrame, metric: str, label: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(dict.fromkeys(table.config))
    cis = [mean_ci(table.loc[table.config == c, metric]) for c in configs]
    means = [m for m, _ in cis]
    errors = [0.0 if math.isnan(h) else h for _, h in cis]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(configs) + 1.4), dpi=110)
    y = np.arange(len(configs))
    ax.barh(y, means, xerr=errors, color="#4c72b0", ecolor="black", capsize=3)
    ax.set_yticks(y, configs, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
