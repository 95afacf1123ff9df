"""SQP against a global search on many small instances (the figure in the reliability
issue's closing note; the suite checks a few of them):

    python -m tests.validation.sqp_global 0 30

For seeds in [first, last) and four settings (one shared pilot or three pilots, equal or
10/17/23 dBm powers), prints every instance where SQP's objective is more than 1e-6 above
the global search's, then the worst relative gap."""

from __future__ import annotations

import sys

from netsim.radio.allocation import AllocationSettings, allocate, objective
from tests.validation.test_allocation import _global_search, _small

SETTINGS = [(1, False), (1, True), (3, True), (2, False)]


def main(first: int, last: int) -> int:
    worst, count = 0.0, 0
    for seed in range(first, last):
        for tau_p, mixed in SETTINGS:
            model, costs = _small(seed, tau_p, mixed)
            s = AllocationSettings(method="sqp", steps=5, steps_min=2, steps_max=9)
            result = allocate(model, costs, s)
            found = objective(model, costs, s, result.eta, result.steps)
            best = _global_search(model, costs, s, 15)
            gap = (found - best) / best
            worst, count = max(worst, gap), count + 1
            if gap > 1e-6:
                print(f"seed {seed} tau_p {tau_p} mixed {mixed}: gap {gap:.3g}", flush=True)
    print(f"{count} instances, worst relative gap {worst:.3g}")
    return 1 if worst > 1e-6 else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
