"""Time to compute cell-free uplink SINRs: L APs x N antennas, K PIUs (vectorised numpy).

    python benchmarks/bench_cellfree.py [--aps 100] [--antennas 4] [--pius 1000] [--pilots 10]

Large-scale gains from the cell-free book model on 1 km x 1 km with wrap-around and 4 dB
shadowing; prints the best of 5 runs for pilot assignment, MMSE quality and the MR SINR.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from netsim.radio.cellfree import (
    assign_pilots,
    estimation_quality,
    lsfd_sinr,
    mr_sinr,
    uplink_rate_bps,
)
from netsim.radio.pathloss import cellfree_book_db


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--aps", type=int, default=100)
    p.add_argument("--antennas", type=int, default=4)
    p.add_argument("--pius", type=int, default=1000)
    p.add_argument("--pilots", type=int, default=10)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    side = 1000.0
    ap = rng.uniform(0, side, (args.aps, 2))
    ue = rng.uniform(0, side, (args.pius, 2))
    delta = np.abs(ue[:, None] - ap[None])
    d = np.hypot(np.linalg.norm(np.minimum(delta, side - delta), axis=-1), 10.0)
    noise_w = 10 ** ((-174 + 10 * np.log10(20e6) + 9 - 30) / 10)
    beta = 10 ** (-(cellfree_book_db(d) + 4 * rng.standard_normal(d.shape)) / 10) / noise_w
    rho = np.full(args.pius, 0.1)

    timings: dict[str, float] = {"pilots": np.inf, "gamma": np.inf, "sinr": np.inf, "lsfd": np.inf}
    for _ in range(5):
        t0 = time.perf_counter()
        pilots = assign_pilots(beta, args.pilots)
        t1 = time.perf_counter()
        gamma = estimation_quality(beta, pilots, rho, args.pilots)
        t2 = time.perf_counter()
        sinr = mr_sinr(beta, gamma, pilots, rho, np.ones(args.pius), args.antennas)
        t3 = time.perf_counter()
        lsfd, _ = lsfd_sinr(beta, gamma, pilots, rho, np.ones(args.pius), args.antennas)
        t4 = time.perf_counter()
        for key, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            timings[key] = min(timings[key], dt)
    rate = uplink_rate_bps(sinr, 20e6, args.pilots, 200)
    print(f"L={args.aps} APs x N={args.antennas}, K={args.pius} PIUs, tau_p={args.pilots}")
    for key, dt in timings.items():
        print(f"  {key:7s} {dt * 1e3:8.2f} ms")
    print(
        f"  MR total (pilots + gamma + sinr) "
        f"{(timings['pilots'] + timings['gamma'] + timings['sinr']) * 1e3:8.2f} ms"
    )
    print(
        f"  median SINR {10 * np.log10(np.median(sinr)):.2f} dB, "
        f"median rate {np.median(rate) / 1e6:.2f} Mbit/s; "
        f"with LSFD median SINR {10 * np.log10(np.median(lsfd)):.2f} dB"
    )


if __name__ == "__main__":
    main()
