"""Every reproduction page written again from the studies' committed per-seed tables, by one
command and without running anything (issue 41):

    python -m benchmarks.pages [--out DIR]

* each study page ``docs/reproductions/NAME.md`` (and its figure) from ``NAME.csv``, with
  the command that produced the table (read from the page's first paragraph);
* the verdict table of ``docs/reproductions.md`` (between its ``verdicts`` markers): every
  claim of every study with n, the paired difference and its 95 % interval, the raw and
  the Holm-corrected p and the verdict of the rule in :mod:`benchmarks.claims`;
* the FL-for-wireless page ``docs/reproductions/wireless.md``
  (:mod:`benchmarks.wireless`).

With ``--out DIR`` the pages go to DIR instead (the tests compare them with the committed
ones). The prose of docs/reproductions.md around the table is written by hand and quotes
the same tables.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmarks import claims, wireless
from benchmarks.experiments import CLAIMS, FIGURES

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = ROOT / "docs" / "reproductions.md"
# the studies whose claims the summary judges: (page name, its experiment, paper label)
STUDIES = (
    ("allocation", "allocation", "EMQ (cell-free)"),
    ("afcfl", "afcfl", "AFC-FL"),
    ("pruning", "pruning", "OTA-FL IMP"),
    ("privacy_dlg", "privacy", "AFC-FL (attacks, DLG)"),
    ("privacy_gan", "privacy", "AFC-FL (attacks, GAN)"),
    ("raytracing", "raytracing", "ray tracing (issue 42)"),  # a comparison, no paper claim
)
START, END = "<!-- verdicts: start -->", "<!-- verdicts: end -->"
_COMMAND = re.compile(r"Produced by `(?P<command>[^`]+)`")


def tested(table: pd.DataFrame, experiment: str) -> list[claims.Claim]:
    """The experiment's claims whose two configurations the table holds."""
    ran = set(table.config)
    return [c for c in CLAIMS.get(experiment, ()) if {c.winner, c.baseline} <= ran]


def study_page(name: str, experiment: str, here: Path, out: Path) -> list[claims.Verdict]:
    """Write study ``name``'s page (and figure) into ``out`` from ``here/NAME.csv``, with
    the command its committed page names; return its verdicts."""
    table = pd.read_csv(here / f"{name}.csv")
    found = _COMMAND.search((here / f"{name}.md").read_text())
    if found is None:
        raise SystemExit(f"{here / name}.md names no command ('Produced by `...`')")
    return claims.write_study(
        name, table, tested(table, experiment), found["command"], FIGURES.get(experiment), out
    )


def verdict_table(verdicts: dict[str, list[claims.Verdict]]) -> str:
    """The summary's table: one row per claim of every study."""
    rows = []
    for (name, _, paper), found in zip(STUDIES, verdicts.values(), strict=True):
        for v in found:
            c = v.claim
            rows.append(
                {
                    "paper": paper,
                    "claim": c.paper,
                    "comparison": f"{c.winner} - {c.baseline} ({c.metric})",
                    "difference (95 % CI)": claims.pm(v.difference, v.half_width),
                    "n": v.seeds,
                    "p raw -> Holm": f"{claims.p_text(v.p)} -> {claims.p_text(v.p_holm)}",
                    "signed-rank p": claims.p_text(claims.signed_rank_p(v.differences)),
                    "verdict": v.verdict_text,
                    "study": f"[{name}](reproductions/{name}.md)",
                }
            )  # fmt: skip
    return claims.markdown_table(pd.DataFrame(rows))


def write_pages(out: Path | None = None) -> None:
    """Every page from the committed CSVs (into ``out``, default where they live)."""
    here = claims.OUT
    pages = out or here
    pages.mkdir(parents=True, exist_ok=True)
    verdicts = {name: study_page(name, exp, here, pages) for name, exp, _ in STUDIES}
    text = SUMMARY.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{SUMMARY} lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    summary = f"{head}{START}\n{verdict_table(verdicts)}\n{END}{tail}"
    (SUMMARY if out is None else out / SUMMARY.name).write_text(summary)
    wireless.write_page(
        here / "localization.csv", here / "closed_loop.csv", pages / wireless.PAGE.name
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write here instead of docs/")
    args = parser.parse_args(argv)
    write_pages(args.out)
    print(f"wrote the reproduction pages into {args.out or claims.OUT}")


if __name__ == "__main__":
    main()
