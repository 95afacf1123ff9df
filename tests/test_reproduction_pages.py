"""The reproduction pages are what ``python -m benchmarks.pages`` writes from the committed
per-seed tables, and the FL-for-wireless page draws its conclusions from the verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import claims, pages, wireless


def test_the_committed_pages_are_the_ones_the_command_writes(tmp_path):
    """docs/reproductions.md's verdict table, every study page and the FL-for-wireless page
    are regenerated from the CSVs alone: edit a number by hand, or commit a CSV without
    its page, and this fails."""
    pages.write_pages(tmp_path)
    written = sorted(p.name for p in tmp_path.glob("*.md"))
    assert {"reproductions.md", "wireless.md", "allocation.md"} <= set(written)
    for name in written:
        committed = pages.SUMMARY if name == "reproductions.md" else claims.OUT / name
        assert (tmp_path / name).read_text() == committed.read_text(), name


def test_the_summary_gives_every_claim_its_n_interval_raw_and_corrected_p():
    text = pages.SUMMARY.read_text()
    table = text.split(pages.START, 1)[1].split(pages.END, 1)[0]
    rows = [r for r in table.strip().splitlines()[2:]]
    expected = 0
    for name, experiment, _ in pages.STUDIES:
        expected += len(pages.tested(pd.read_csv(claims.OUT / f"{name}.csv"), experiment))
    assert len(rows) == expected > 20
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        n = int(cells[4])  # one pair (AFC-FL's parameters against F = 1): no interval, no p
        assert ("±" in cells[3] and "->" in cells[5]) if n >= 2 else cells[5] == "n/a -> n/a"


def test_the_break_even_horizon_by_hand():
    cost, gain = np.array([2.0, 4.0]), np.array([1.0, 1.0])
    h, low, high = wireless.horizon(cost, gain)
    assert h == 3.0 and 2.0 <= low <= 3.0 <= high <= 4.0  # resamples: 2, 3 or 4
    assert wireless.horizon(cost, np.array([-1.0, 0.5]))[0] == math.inf  # never repaid


def _localization_table(knn_gap: float, seeds: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    label = "street_localization, spatial split"
    for seed in range(1, seeds + 1):
        fed = 10 + rng.normal(0, 1)
        for method, value in [("federated", fed), ("kNN fingerprinting", fed - knn_gap),
                              ("weighted centroid", fed + rng.normal(0, 1))]:  # fmt: skip
            rows.append({"config": f"{label}: {method}", "seed": seed, "median_m": value,
                         "p90_m": 2 * value, "rounds": 50})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gap", [2.0, -2.0])
def test_the_localization_conclusion_follows_the_verdicts_whichever_way(gap):
    """kNN 2 m better (or worse) than the federated model at every one of 10 seeds: the
    verdict and the written conclusion name the side that won; the weighted centroid, level
    with it, is called indistinguishable."""
    text = "\n".join(wireless.localization_section(_localization_table(gap)))
    winner = "kNN fingerprinting" if gap > 0 else "federated"
    assert f"| {winner} better |" in text
    if gap > 0:
        assert "Better than the federated model: kNN fingerprinting." in text
    else:
        assert "Worse: kNN fingerprinting." in text
    assert "Not distinguishable from it at these seeds: weighted centroid." in text
