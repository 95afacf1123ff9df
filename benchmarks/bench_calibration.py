"""TR 38.901 7.8 large-scale calibration: coupling gain and downlink geometry on the 19-site,
57-sector layout with wrap-around, netsim against Sionna's TR 38.901 system-level model on
the same drops.

    python -m benchmarks calibration [--drops 10] [--out DIR]

Set-ups (Table 7.8-1 as used here): UMi street canyon (ISD 200 m, BS 10 m, 35 dBm, UEs at
least 10 m away) and UMa (ISD 500 m, BS 25 m, 44 dBm, at least 35 m) at 6 GHz, 20 MHz, UE
noise figure 9 dB; BS antenna: the Table 7.3-1 element (8 dBi) on one column of 10 elements
0.5 wavelength apart, electrical downtilt 102 degrees; UEs with an isotropic 0 dBi antenna,
10 per sector dropped uniformly over the layout, attached to the sector of highest coupling
gain (0 dB handover margin); LOS state and shadowing per (UE, site). "full": 80 % of the
UEs indoors (O2I low / high loss 50 / 50, floors of TR 36.873); "outdoor": every UE
outdoors at 1.5 m. "per link" repeats the outdoor UMi drop with netsim's default draws per
(UE, sector) link, the configuration behind issue 38's 1.9 dB at the 5th percentile.

Sionna gets netsim's drop (positions, heights, indoor states and distances, sector
orientations, site ids) and draws its own LOS states, shadowing and O2I losses; its
wrap-around images are those of netsim's (the cluster tiled along the site lattice), not
``gen_tr38901_multicell_topology``'s, whose translations are rotated against the lattice
(the smallest distance between a site and another's image is printed). Sionna draws one O2I
model per scenario object: low- and high-loss UEs get their values from two objects. Its
antenna gain is Sionna's Table 7.3-1 element field on its 10 x 1 PanelArray's element
positions with the same downtilt weights. Sionna runs with its TR 38.901 V16.1 parameters
(V19.2 changed the high-loss IIR glass to 25.4 + 0.11 f dB; netsim has 23 + 0.3 f).
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
from netsim.topologies.builders import hex_rings, hex_wrap_offsets

from netsim import load_scenario
from netsim.assembly.radio import Air
from netsim.radio.largescale import site_ids
from netsim.rng import Streams

NOISE_DBM = -174.0 + 10.0 * math.log10(20e6) + 9.0  # 20 MHz, NF 9 dB
SETUPS = {  # name: (path loss, ISD m, BS height m, min distance m, BS power dBm)
    "UMi": ("umi_38901", 200.0, 10.0, 10.0, 35.0),
    "UMa": ("uma_38901", 500.0, 25.0, 35.0, 44.0),
}
PERCENTILES = (5, 50, 95)
CHUNKS = 10  # UE chunks of a Sionna topology


def overrides(setup: str, indoor: bool, per_site: bool = True) -> list[str]:
    model, isd, h_bs, d_min, _ = SETUPS[setup]
    sets = [
        "topology.sites=19",
        "topology.sectors=3",
        "topology.num_pius=570",
        "topology.wrap_around=true",
        f"topology.isd_m={isd}",
        f"topology.ap_height_m={h_bs}",
        f"topology.min_distance_m={d_min}",
        "topology.piu_height_m=1.5",
        f'radio.pathloss={{model="{model}"}}',
        "radio.carrier_hz=6e9",
        "radio.bandwidth_hz=20e6",
        "radio.noise_figure_db=9.0",
        "radio.sector_antenna={rows=10, spacing_wavelengths=0.5, downtilt_deg=102.0}",
    ]
    if per_site:
        sets.append("radio.large_scale_per_site=true")
    if indoor:
        sets.append("radio.indoor={fraction=0.8, high_loss_fraction=0.5}")
    return sets


def metrics(gain_db: np.ndarray, power_dbm: float) -> tuple[np.ndarray, np.ndarray]:
    """(coupling gain dB, geometry dB) per UE of coupling gains (K, A) dB: the serving
    sector is the strongest; geometry = S / (sum of the others + noise), all at one power."""
    serving = gain_db.max(axis=1)
    rx_mw = 10.0 ** ((gain_db + power_dbm) / 10.0)
    interference = rx_mw.sum(axis=1) - rx_mw.max(axis=1)
    sinr = rx_mw.max(axis=1) / (interference + 10.0 ** (NOISE_DBM / 10.0))
    return serving, 10.0 * np.log10(sinr)


def sionna_gain_db(air: Air, setup: str, isd: float, seed: int) -> np.ndarray:
    """(K, A) coupling gains (dB) of Sionna's UMi / UMa model on netsim's drop."""
    import torch
    from sionna.phy import config
    from sionna.phy.channel.tr38901 import PanelArray, UMa, UMi

    config.seed = seed
    g = air.gains
    k, a = len(air.piu_xy), len(g.ap_xy)
    fc = 6e9
    ind = g.indoor
    indoor = np.zeros(k, bool) if ind is None else ind.indoor
    d_in = np.zeros(k) if ind is None else ind.distance_m
    high = np.zeros(k, bool) if ind is None else ind.high_loss
    ut = np.column_stack([air.piu_xy, g.piu_height_m])
    bs = np.column_stack([g.ap_xy, g.ap_height_m])
    azimuth = np.radians(np.tile([30.0, 150.0, 270.0], a // 3))
    wrap = hex_wrap_offsets(hex_rings(19), isd)  # the lattice's own images
    images = g.ap_xy[:, None, :] + wrap[None, :, :]  # (A, 7, 2)
    dist = np.linalg.norm(air.piu_xy[None, None, :, :] - images[:, :, None, :], axis=-1)
    best = dist.argmin(axis=1)  # (A, K)
    virtual_xy = np.take_along_axis(images, best[:, :, None], axis=1)  # (A, K, 2)
    virtual = np.concatenate([virtual_xy, np.broadcast_to(bs[:, None, 2:], (a, k, 1))], axis=-1)

    def t(x, dtype=torch.float64):
        return torch.as_tensor(np.asarray(x), dtype=dtype)[None]

    bs_array = PanelArray(10, 1, "single", "V", "38.901", fc, precision="double", device="cpu")
    ut_array = PanelArray(1, 1, "single", "V", "omni", fc, precision="double", device="cpu")
    cls = UMi if setup == "UMi" else UMa
    loss = {"low": np.empty((k, a)), "high": np.empty((k, a))}
    sites = torch.as_tensor(site_ids(g.ap_xy), dtype=torch.int64)
    orient = np.column_stack([azimuth, np.zeros(a), np.zeros(a)])
    for model in ("low", "high"):
        ch = cls(fc, model, ut_array, bs_array, "downlink", precision="double", device="cpu",
                 spec_version="16.1")  # fmt: skip
        # UEs in chunks: Sionna correlates each LSP over all UEs of a topology (a K x K
        # square root per BS); the marginal statistics do not depend on the chunking
        for c in np.array_split(np.arange(k), CHUNKS):
            ch.set_topology(
                ut_loc=t(ut[c]), bs_loc=t(bs),
                ut_orientations=t(np.zeros((len(c), 3))),
                bs_orientations=t(orient),
                ut_velocities=t(np.zeros((len(c), 3))),
                in_state=t(indoor[c], torch.bool),
                bs_virtual_loc=t(virtual[:, c]),
                bs_site_ids=sites,
                distance_2d_in=t(d_in[c]),
            )  # fmt: skip
            lsp = ch.sample_lsp()
            pl = lsp.pathloss[0].numpy().T  # (chunk, A) dB
            loss[model][c] = pl - 10.0 * np.log10(lsp.sf[0].numpy().T)
    total = np.where(high[:, None], loss["high"], loss["low"])
    # antenna: Sionna's element field at the BS-local angles, column of its element positions
    v = air.piu_xy[:, None, :] - virtual_xy.transpose(1, 0, 2)  # (K, A, 2)
    phi = np.arctan2(v[..., 1], v[..., 0]) - azimuth[None, :]
    phi = (phi + np.pi) % (2 * np.pi) - np.pi
    theta = np.pi / 2 + np.arctan2(g.ap_height_m[None, :] - g.piu_height_m[:, None],
                                   np.linalg.norm(v, axis=-1))  # fmt: skip
    f_theta, f_phi = bs_array.ant_pol1.field(torch.as_tensor(theta), torch.as_tensor(phi))
    element_db = 10.0 * np.log10((f_theta**2 + f_phi**2).numpy())
    z = bs_array.ant_pos[:, 2].numpy() / (299_792_458.0 / fc)  # element heights, wavelengths
    tilt = np.radians(102.0)
    psi = 2 * np.pi * z[:, None, None] * (np.cos(theta)[None] - np.cos(tilt))
    array_db = 10.0 * np.log10(np.abs(np.exp(1j * psi).sum(axis=0)) ** 2 / len(z))
    return element_db + array_db - total


def sionna_wrap_gap(isd: float) -> float:
    """Smallest distance, in ISDs, between a site and another site's wrap-around image with
    ``gen_tr38901_multicell_topology``'s translations (0 would be the lattice's own)."""
    import torch
    from sionna.sys.topology import _tr38901_site_positions, _tr38901_wrap_vectors

    sites = _tr38901_site_positions(2, isd, torch.float64, "cpu").numpy()
    wrap = _tr38901_wrap_vectors(2, isd, torch.float64, "cpu").numpy()[1:]
    images = (sites[:, None, :] + wrap[None]).reshape(-1, 2)
    d = np.linalg.norm(images[:, None, :] - sites[None, :, :], axis=-1)
    return float(d.min() / isd)


def run_setup(setup: str, indoor: bool, drops: int, per_site: bool = True) -> dict:
    s = load_scenario("hex_umi", overrides(setup, indoor, per_site))
    power = SETUPS[setup][4]
    out: dict[str, list[np.ndarray]] = {"cg": [], "geo": [], "s_cg": [], "s_geo": []}
    for drop in range(drops):
        air = Air.build(s, Streams(1000 + drop))
        cg, geo = metrics(10.0 * np.log10(air.gains.gain), power)
        out["cg"].append(cg)
        out["geo"].append(geo)
        if per_site:
            s_cg, s_geo = metrics(sionna_gain_db(air, setup, SETUPS[setup][1], drop), power)
            out["s_cg"].append(s_cg)
            out["s_geo"].append(s_geo)
    return {key: np.concatenate(v) for key, v in out.items() if v}


def calibration(drops: int, out_dir: str | None) -> None:
    t0 = time.perf_counter()
    gap = sionna_wrap_gap(200.0)
    print(f"Sionna 2.2 wrap-around translations: nearest foreign site image {gap:.2f} ISD "
          "(the lattice's own: 1.00); netsim's images are used for both")  # fmt: skip
    cases = [
        (f"{setup} {'full' if indoor else 'outdoor'}", setup, indoor, True)
        for setup in SETUPS
        for indoor in (False, True)
    ]
    cases.append(("UMi outdoor, per link", "UMi", False, False))
    rows, curves = [], {}
    for name, setup, indoor, per_site in cases:
        r = run_setup(setup, indoor, drops, per_site)
        curves[name] = r
        for metric, key in (("coupling gain", "cg"), ("geometry", "geo")):
            net = np.percentile(r[key], PERCENTILES)
            sio = np.percentile(r["s_" + key], PERCENTILES) if "s_" + key in r else None
            row = {"set-up": name, "metric": metric}
            for i, p in enumerate(PERCENTILES):
                row[f"netsim p{p}"] = round(float(net[i]), 2)
                row[f"sionna p{p}"] = "" if sio is None else round(float(sio[i]), 2)
                row[f"diff p{p}"] = "" if sio is None else round(float(net[i] - sio[i]), 2)
            rows.append(row)
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    print(f"{drops} drops x 570 UEs per set-up; {time.perf_counter() - t0:.0f} s")
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "calibration.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header)
            w.writeheader()
            w.writerows(rows)
        _figures(curves, out)


def _figures(curves: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for setup in SETUPS:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, (key, label) in zip(
            axes,
            (("cg", "coupling gain (dB)"), ("geo", "geometry, DL wideband SINR (dB)")),
            strict=True,
        ):
            for name, r in curves.items():
                if not name.startswith(setup) or "per link" in name:
                    continue
                style = "-" if "full" in name else "--"
                for src, colour in (("", "C0"), ("s_", "C1")):
                    x = np.sort(r[src + key])
                    who = "netsim" if not src else "Sionna"
                    ax.plot(x, np.linspace(0, 1, len(x)), style, color=colour,
                            label=f"{who}, {name.split(' ', 1)[1]}")  # fmt: skip
            ax.set_xlabel(label)
            ax.set_ylabel("CDF")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"TR 38.901 7.8 large-scale calibration, {setup}, 6 GHz, 19 x 3 sectors")
        fig.tight_layout()
        fig.savefig(out / f"calibration_{setup.lower()}.png", dpi=110)
        plt.close(fig)
