"""Confidence intervals and verdicts of the reproductions (benchmarks/claims.py), against
values computed by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from benchmarks.claims import Claim, judge, mean_ci, signed_rank_p, summary, write_study

# Student t with 2 degrees of freedom has a closed-form quantile: (2q - 1) / sqrt(2q(1 - q))
T2 = (2 * 0.975 - 1) / math.sqrt(2 * 0.975 * 0.025)  # 4.3027


def test_mean_ci_by_hand():
    # 1, 2, 3: mean 2, s = 1, sem 1/sqrt(3)
    mean, hw = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert hw == pytest.approx(T2 / math.sqrt(3), rel=1e-12)
    # NaN ignored; one value: no interval; agreement: zero width
    assert mean_ci([5.0, math.nan]) == (5.0, pytest.approx(math.nan, nan_ok=True))
    assert mean_ci([4.0, 4.0, 4.0]) == (4.0, 0.0)


def _table(a: list[float], b: list[float]) -> pd.DataFrame:
    rows = [{"config": "A", "seed": s, "acc": v} for s, v in enumerate(a)]
    rows += [{"config": "B", "seed": s, "acc": v} for s, v in enumerate(b)]
    return pd.DataFrame(rows)


def test_paired_verdicts():
    # differences A - B per seed: 0.1, 0.2, 0.3 -> mean 0.2, interval 0.2 +- 0.248 (t, 2 df)
    table = _table([0.9, 0.8, 0.7], [0.8, 0.6, 0.4])
    up = judge(table, Claim("A beats B", "A", "B", "acc"))
    assert up.difference == pytest.approx(0.2)
    assert up.half_width == pytest.approx(T2 * 0.1 / math.sqrt(3), rel=1e-12)
    assert up.seeds == 3 and up.outcome == "inconclusive"  # 0.2 - 0.248 < 0
    # the same differences, tighter: 0.2, 0.21, 0.19 -> reproduced; the other way round ->
    # not reproduced (the interval lies on the other side)
    tight = _table([0.9, 0.81, 0.69], [0.7, 0.6, 0.5])
    assert judge(tight, Claim("A beats B", "A", "B", "acc")).outcome == "reproduced"
    assert judge(tight, Claim("A has lower acc", "A", "B", "acc", "lower")).outcome == (
        "not reproduced"
    )
    # the paper's size: an interval below it
    small = _table([0.71, 0.705, 0.695], [0.7, 0.7, 0.7])  # +0.003 +- 0.01: contains 0
    assert judge(small, Claim("c", "A", "B", "acc", size=0.07)).outcome == (
        "not reproduced at the claimed size"
    )
    assert judge(small, Claim("c", "A", "B", "acc", size=0.005)).outcome == "inconclusive"
    assert judge(tight, Claim("c", "A", "B", "acc", size=0.5)).outcome == (
        "reproduced, smaller than claimed"
    )
    assert judge(tight, Claim("c", "A", "B", "acc", size=0.1)).outcome == "reproduced"
    # a seed missing on one side is not paired
    gap = pd.concat([tight, pd.DataFrame([{"config": "A", "seed": 9, "acc": 1.0}])])
    assert judge(gap, Claim("c", "A", "B", "acc")).seeds == 3
    with pytest.raises(KeyError, match="'C'"):
        judge(tight, Claim("c", "C", "B", "acc"))


def test_a_censored_pair_makes_the_difference_a_bound():
    """B never got there in two seeds (its value is the censoring rounds + 1): A's lead is
    a lower bound, so an interval below the paper's size says nothing about the size."""
    table = _table([40.0, 42.0, 41.0], [151.0, 151.0, 140.0])
    table["reached"] = [40.0, 42.0, 41.0, math.nan, math.nan, 140.0]
    claim = Claim("A is faster", "A", "B", "acc", "lower", size=300.0)
    assert judge(table, claim).outcome == "reproduced, smaller than claimed"
    censored = judge(table, replace(claim, censored_by="reached"))
    assert censored.censored == 2
    assert censored.outcome == "reproduced (2 of 3 pairs censored: the difference is a bound)"


def test_write_study_writes_the_table_the_claims_and_the_figure(tmp_path):
    table = _table([0.9, 0.81, 0.69], [0.7, 0.6, 0.5])
    table["label"] = "text columns are left out of the summary"
    verdicts = write_study(
        "demo", table, [Claim("A beats B", "A", "B", "acc")], "python -m x demo",
        ("acc", "accuracy"), tmp_path,
    )  # fmt: skip
    assert [v.outcome for v in verdicts] == ["reproduced"]
    text = (tmp_path / "demo.md").read_text()
    assert "python -m x demo" in text and "| reproduced |" in text and "demo.png" in text
    assert pd.read_csv(tmp_path / "demo.csv").shape == table.shape
    assert (tmp_path / "demo.png").stat().st_size > 0
    rows = summary(table)
    assert rows.columns.tolist() == ["config", "seeds", "acc"]
    assert rows.acc.tolist()[1] == "0.6 ± 0.25"  # 0.7, 0.6, 0.5: sd 0.1 -> 4.303 x 0.0577


def test_experiments_rewrite_a_study_from_its_per_seed_table(tmp_path, capsys):
    from benchmarks.experiments import main

    rows = [
        {"config": c, "seed": s, "rounds_to_90_censored": r + s, "params_to_90": 1e6 * (r + s)}
        for c, r in (("AFC-FL", 10), ("F=1, C=100%", 20), ("F=5, C=90%", 40))
        for s in (1, 2, 3)
    ]
    csv = tmp_path / "in.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    main(["afcfl", "--from-csv", str(csv), "--out", str(tmp_path)])
    text = (tmp_path / "afcfl.md").read_text()
    assert "`python -m benchmarks.experiments afcfl --seeds 3`" in text
    # only the claims whose configurations ran; equal spreads: a zero-width interval
    # 2 baselines x (rounds, parameters), each 10 or 30 rounds (and 1e7 or 3e7 parameters)
    # ahead on every seed: reproduced, and below the paper's sizes (12 to 373 rounds)
    assert text.count("| reproduced") == 4
    assert "| reproduced, smaller than claimed |" in text  # 10 rounds < 12
    assert "F=1, C=90%" not in text
    assert (tmp_path / "afcfl.png").exists()
    assert "AFC-FL vs F=5, C=90% on rounds_to_90_censored" in capsys.readouterr().out


def test_a_study_run_in_parts_is_written_from_all_of_them(tmp_path):
    from benchmarks.experiments import main

    rows = [
        {"config": c, "seed": s, "rounds_to_90_censored": r + s, "params_to_90": 1e6 * (r + s)}
        for c, r in (("AFC-FL", 10), ("F=1, C=100%", 20))
        for s in (1, 2, 3)
    ]
    whole, parts = pd.DataFrame(rows), []
    for seed in (1, 2, 3):  # one file per seed, as one process per seed writes them
        parts.append(tmp_path / f"part{seed}.csv")
        whole[whole.seed == seed].to_csv(parts[-1], index=False)
    (tmp_path / "one").mkdir()
    (tmp_path / "all").mkdir()
    whole.to_csv(tmp_path / "whole.csv", index=False)
    main(["afcfl", "--from-csv", str(tmp_path / "whole.csv"), "--out", str(tmp_path / "one")])
    main(["afcfl", "--from-csv", *map(str, parts), "--out", str(tmp_path / "all")])
    one = (tmp_path / "one" / "afcfl.md").read_text()
    assert one.startswith("# afcfl: 3 seeds")
    assert (
        pd.read_csv(tmp_path / "all" / "afcfl.csv")
        .sort_values(["config", "seed"])
        .equals(whole.sort_values(["config", "seed"]))
    )
    with pytest.raises(SystemExit, match="share a"):
        main(["afcfl", "--from-csv", str(parts[0]), str(parts[0]), "--out", str(tmp_path)])


def test_paired_p_and_holm_by_hand():
    from benchmarks.claims import holm, judge_all, paired_p

    # differences 0.1, 0.2, 0.3: t = 0.2 / (0.1 / sqrt 3) = 3.464 on 2 df; the t(2) CDF has a
    # closed form, F(t) = 1/2 + t / (2 sqrt(2 + t^2)), so p = 1 - t / sqrt(2 + t^2)
    t = 0.2 / (0.1 / math.sqrt(3))
    assert paired_p([0.1, 0.2, 0.3]) == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)
    assert paired_p([0.2]) != paired_p([0.2])  # NaN: one seed tests nothing
    assert paired_p([0.5, 0.5]) == 0.0 and paired_p([0.0, 0.0]) == 1.0
    # Holm: sorted 0.01, 0.02, 0.04 -> x3, x2, x1 = 0.03, 0.04, 0.04 (made non-decreasing)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.3, math.nan]) == [0.3, pytest.approx(math.nan, nan_ok=True)]
    # a claim that passes alone (p = 0.0075) fails among three others at p 0.02 -> 0.03
    tight = _table([0.9, 0.81, 0.69], [0.7, 0.6, 0.5])
    alone = judge(tight, Claim("A beats B", "A", "B", "acc"))
    assert alone.outcome == "reproduced" and alone.p == alone.p_holm
    loose = _table([0.9, 0.8, 0.7, 0.6], [0.8, 0.6, 0.75, 0.3])
    claims = [Claim("A beats B", "A", "B", "acc")] * 4 + [
        Claim("bits", "A", "B", "acc", by_construction="the bit width sets it")
    ]
    family = judge_all(pd.concat([tight]), claims[:1]) + judge_all(loose, claims)
    assert family[0].outcome == "reproduced"
    # 4 tested claims at one p: each corrected to min(1, 4 p)
    assert family[1].p_holm == pytest.approx(min(1.0, 4 * family[1].p))
    assert family[-1].outcome == "holds by construction"
    assert math.isnan(family[-1].p_holm)  # not counted in the correction


def test_signed_rank_p_by_hand():
    # 3 differences of one sign: 2 of the 2^3 equally likely sign patterns are as extreme
    assert signed_rank_p([1.0, 2.0, 3.0]) == pytest.approx(0.25)
    assert signed_rank_p([-1.0, -2.0, -3.0, -4.0, -5.0]) == pytest.approx(2 / 32)
    assert signed_rank_p([0.0, 0.0]) == 1.0 and math.isnan(signed_rank_p([1.0]))
