"""The figures of docs/tutorials/raytraced-factory.md (from the repository's root:
``PYTHONPATH=. python docs/make_raytracing_figures.py``; about a minute on 2 cores, with
the bundled maps and three 4-AP layouts traced or cached):

* ``raytracing-coverage.png``: the bundled factory_raytraced hall, the best AP's path gain
  in each 1 m cell, ray-traced (the shipped maps) beside TR 38.901 InF-SH's median gain on
  the same floor plan (LOS probability times the LOS gain plus the rest times the NLOS
  gain, no shadowing), the machines and shelves outlined;
* ``raytracing-snr-cdf.png``: the uplink SNR of every upload over 5 seeds x 10 rounds,
  traced against InF-SH, for the bundled 8 APs and the three 4-AP layouts of the study.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from benchmarks.experiments import raytracing_configs
from netsim import Simulation, load_scenario
from netsim.assembly.radio import loss_model
from netsim.assembly.topology import hall_of

OUT = Path(__file__).parent / "figures"
SEEDS = range(1, 6)


def _outline(ax, hall) -> None:
    for box in hall.obstacles():
        (x0, y0, _), (x1, y1, _) = box.lower, box.upper
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="w", lw=0.8))


def coverage() -> None:
    """Traced and InF-SH best-server gain maps of the bundled hall, one colour scale."""
    traced = Simulation(load_scenario("factory_raytraced", ["protocol.rounds=1"]))
    maps = traced.world.gains.radio_maps
    assert maps is not None
    best_traced = maps.gain_db.max(axis=0)
    inf = load_scenario("factory_raytraced", [*raytracing_configs()["InF-SH, 8 APs (4 x 2)"]])
    xs, ys = maps.centres()
    gx, gy = np.meshgrid(xs, ys)
    gains = traced.world.gains
    d2 = np.hypot(gx[..., None] - gains.ap_xy[:, 0], gy[..., None] - gains.ap_xy[:, 1])
    dh = gains.ap_height_m - maps.height_m
    stats = loss_model(inf.radio.pathloss, inf.radio.carrier_hz)(
        d2, np.sqrt(d2**2 + dh**2), gains.ap_height_m, maps.height_m
    )
    mean = stats.p_los * 10 ** (-stats.loss_los_db / 10) + (1 - stats.p_los) * 10 ** (
        -stats.loss_nlos_db / 10
    )
    best_inf = 10 * np.log10(mean.max(axis=-1))
    low = float(min(np.percentile(best_traced, 1), best_inf.min()))
    high = float(max(best_traced.max(), best_inf.max()))
    hall = hall_of(traced.scenario.topology)
    fig, axes = plt.subplots(2, 1, figsize=(8, 8.5), layout="constrained")
    for ax, image, title in ((axes[0], best_traced, "ray-traced (Sionna RT)"),
                             (axes[1], best_inf, "TR 38.901 InF-SH, same floor plan")):  # fmt: skip
        shown = ax.imshow(image, origin="lower", extent=maps.extent, cmap="magma",
                          vmin=low, vmax=high)  # fmt: skip
        _outline(ax, hall)
        ax.scatter(gains.ap_xy[:, 0], gains.ap_xy[:, 1], marker="^", s=80, c="crimson",
                   edgecolor="k", label="AP (8 m)")  # fmt: skip
        ax.set_title(f"best AP's path gain: {title}")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
    fig.colorbar(shown, ax=axes, label="path gain (dB)", shrink=0.8)
    fig.savefig(OUT / "raytracing-coverage.png", dpi=110)
    plt.close(fig)


def snr_cdf() -> None:
    """Per-upload SNR CDFs, traced against InF-SH, for each layout of the study."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), sharey=True, layout="constrained")
    layouts = ["8 APs (4 x 2)", "4 APs (4 x 1)", "4 APs (2 x 2)", "4 APs (1 x 4)"]
    configs = raytracing_configs()
    for ax, layout in zip(axes, layouts, strict=True):
        for model, colour in (("ray-traced", "tab:orange"), ("InF-SH", "tab:blue")):
            snr = []
            for seed in SEEDS:
                sets = ["protocol.rounds=10", f"seed={seed}", *configs[f"{model}, {layout}"]]
                e = Simulation(load_scenario("factory_raytraced", sets)).run().events
                up = e[(e.event == "tx_end") & e.node.astype(str).str.startswith("piu")]
                snr.append(up.snr_db.to_numpy())
            values = np.sort(np.concatenate(snr))
            ax.plot(values, np.arange(1, len(values) + 1) / len(values), color=colour,
                    label=model)  # fmt: skip
        ax.set_title(layout)
        ax.set_xlabel("uplink SNR of an upload (dB)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("CDF")
    axes[0].legend()
    fig.savefig(OUT / "raytracing-snr-cdf.png", dpi=110)
    plt.close(fig)


def main() -> None:
    """Write both figures into :data:`OUT`."""
    OUT.mkdir(parents=True, exist_ok=True)
    coverage()
    snr_cdf()
    print(f"wrote {OUT / 'raytracing-coverage.png'} and {OUT / 'raytracing-snr-cdf.png'}")


if __name__ == "__main__":
    main()
