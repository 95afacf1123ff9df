"""Random valid scenarios that combine the features that interact on the timeline, and the
invariants every run must keep. ``tests/test_stress.py`` runs a fast subset;

    python -m tests.stress 300

runs many and reports (the figure in the reliability issue's closing note)."""

from __future__ import annotations

import copy
import math
import sys
from typing import Any

import numpy as np

from netsim import Simulation
from netsim.assembly.streaming import streaming_blocker
from netsim.scenario import Scenario
from netsim.sim import SimulationResult

BASE: dict[str, Any] = {
    "name": "stress",
    "radio": {
        "pathloss": {"model": "log_distance", "exponent": 3.0, "ref_loss_db": 40.0},
        "shadowing_std_db": 4.0,
        "bandwidth_hz": 1e6,
        "noise_figure_db": 0.0,
    },
    "device": {"cpu_hz": 1e9, "cycles_per_sample": 2.5e6},
    "server": {"aggregation_s": 0.01},
    "learning": {
        "dataset": "digits",
        "model": "mlp",
        "batch_size": 8,
        "optimizer": {"name": "sgd", "lr": 0.05},
    },
}


def random_scenario(seed: int) -> Scenario:
    """A valid scenario drawn from ``seed``: mobility and handover, churn, deadlines,
    over-commitment, FedAsync/FedBuff, fixed-rate links with outages and retransmissions,
    harvesting batteries, compression with error feedback, one to four APs, and the shared
    air: reuse, OFDMA schedulers, receive combining, power control, unicast downlinks, NR
    links (transport blocks, HARQ, lost uploads) and routed backhauls (shared links,
    background traffic, link outages), differential privacy, and spatially consistent maps
    with predictive selection; streaming FedAvg where it is allowed."""
    data, rng = _random_data(seed)
    scenario = Scenario.from_dict(data)
    # streaming FedAvg wherever the build allows it: a trained update that went missing
    # after all would fail the run (StreamingFedAvg.result checks every one arrived)
    if streaming_blocker(scenario) is None and rng.random() < 0.8:
        scenario = scenario.with_overrides(["server.streaming=true"])
    return scenario


def streaming_scenario(seed: int) -> Scenario:
    """:func:`random_scenario`'s draw with everything that could lose, cut or change a
    trained update taken out (a synchronous round of uncompressed FedAvg, no deadline,
    fixed-rate or NR link, churn, battery, mobility, backhaul failure, hierarchy or DP),
    with streaming FedAvg: the shared air, schedulers, routed backhauls and stragglers stay."""
    data, _ = _random_data(seed)
    rounds = data["protocol"]["rounds"]
    data["protocol"] = {"mode": "sync", "rounds": rounds, "selection": "random"}
    for section in ("compression", "dp", "hierarchy", "mobility"):
        data.pop(section, None)
    for key in ("target_rate_bps", "max_retransmissions", "link", "mcs_table", "bler_target",
                "harq_rtt_s", "max_transmissions", "spatial_consistency_m"):  # fmt: skip
        data["radio"].pop(key, None)
    for key in ("availability", "battery_j", "harvesting", "reserve_j"):
        data["device"].pop(key, None)
    for key in ("outages", "failures", "edge_servers"):
        data.get("backhaul", {}).pop(key, None)
    return Scenario.from_dict(data).with_overrides(["server.streaming=true"])


def _random_data(seed: int) -> tuple[dict[str, Any], np.random.Generator]:
    """The scenario data of :func:`random_scenario` and the generator after its draws."""
    rng = np.random.default_rng(seed)
    data = copy.deepcopy(BASE)
    data["seed"] = int(seed)
    n = int(rng.integers(3, 9))
    side = int(rng.integers(1, 3))
    data["topology"] = {
        "kind": "grid",
        "num_pius": n,
        "aps_per_side": side,
        "side_m": float(rng.uniform(60, 200)),
    }
    radio = data["radio"]
    radio["access"] = str(rng.choice(["tdma", "fdma"]))
    if rng.random() < 0.4:
        radio["target_rate_bps"] = float(rng.uniform(2e5, 3e6))
        radio["max_retransmissions"] = int(rng.integers(0, 3))
    device = data["device"]
    device["straggler"] = {"dist": "lognormal", "sigma": float(rng.uniform(0.1, 1.0))}
    if rng.random() < 0.5:
        device["availability"] = {
            "kind": "exponential",
            "mean_on_s": float(rng.uniform(0.5, 5)),
            "mean_off_s": float(rng.uniform(0.2, 2)),
        }
    if rng.random() < 0.5:
        device["battery_j"] = float(10 ** rng.uniform(-2.5, 0.3))  # 3 mJ to 2 J
        if rng.random() < 0.6:
            device["harvesting"] = {"kind": "constant", "power_w": float(rng.uniform(0, 0.2))}
        device["reserve_j"] = float(rng.uniform(0, 0.3))
    if rng.random() < 0.5:
        data["mobility"] = {
            "model": "random_waypoint",
            "speed_mps": float(rng.uniform(2, 40)),
            "update_s": float(rng.uniform(0.05, 0.5)),
        }
    mode = str(rng.choice(["sync", "sync", "fedasync", "fedbuff"]))
    protocol: dict[str, Any] = {"mode": mode, "rounds": int(rng.integers(2, 5))}
    if mode == "sync":
        if rng.random() < 0.6:
            protocol["deadline_s"] = float(rng.uniform(0.1, 2.0))
        if rng.random() < 0.4:
            k = int(rng.integers(1, n + 1))
            protocol["clients_per_round"] = k
            protocol["target_updates"] = int(rng.integers(1, k + 1))
    else:
        protocol["concurrency"] = int(rng.integers(1, n + 1))
        if mode == "fedbuff":
            protocol["buffer_size"] = int(rng.integers(1, protocol["concurrency"] + 1))
    data["protocol"] = protocol
    choice = rng.random()
    if choice < 0.3:
        data["compression"] = {"method": "topk", "ratio": 0.1, "error_feedback": True}
    elif choice < 0.5:
        data["compression"] = {"method": "uniform", "bits": 4, "error_feedback": True}
    data["learning"]["local_steps"] = int(rng.integers(1, 4))
    _shared_air(radio, rng, side**2)
    _nr_link(radio, rng)
    _routed_backhaul(data, rng)
    _hierarchy(data, rng)
    _privacy(data, rng)
    _predictive(data, rng)
    return data, rng


def _predictive(data: dict[str, Any], rng: np.random.Generator) -> None:
    """Drawn after privacy: spatially consistent maps now and then, and on them the closed
    loop's predictive selection (last value or oracle forecasts, an optional predictive
    deadline) where the rest allows it (synchronous rounds, one server, random selection
    under DP, no over-commitment clash)."""
    draw = rng.random(4)
    if draw[0] >= 0.3 or "shadowing_decorrelation_m" in data["radio"]:
        return
    data["radio"]["spatial_consistency_m"] = float(5 + 20 * draw[1])
    p = data["protocol"]
    if p["mode"] != "sync" or "hierarchy" in data or "dp" in data or draw[2] >= 0.6:
        return
    p["selection"] = "predictive"
    p["predictor"] = "oracle" if draw[3] < 0.5 else "last_value"
    if draw[3] < 0.25:
        p["predictive_deadline"] = 1.5


def _privacy(data: dict[str, Any], rng: np.random.Generator) -> None:
    """Drawn last: client-level DP-FedAvg or sample-level DP-SGD where the rest allows it
    (synchronous rounds of a uniform sample, one server)."""
    protocol, draw = data["protocol"], rng.random()
    if protocol["mode"] != "sync" or "target_updates" in protocol or "hierarchy" in data:
        return
    dp: dict[str, Any] = {"noise_multiplier": float(rng.uniform(0.3, 2.0)),
                          "clip_norm": float(10 ** rng.uniform(-2, 0))}  # fmt: skip
    if draw < 0.2:
        data["dp"] = {"level": "client", "adaptive_clipping": bool(rng.random() < 0.5), **dp}
    elif draw < 0.3:
        data["dp"] = {"level": "sample", **dp}


def _shared_air(radio: dict[str, Any], rng: np.random.Generator, n_aps: int) -> None:
    """Drawn last, so a seed's other features stay what they were: reuse, OFDMA
    schedulers, receive combining, power control and the unicast downlink (adaptive-rate
    links only: they exclude a fixed target rate)."""
    draws = rng.random(5)
    if "target_rate_bps" in radio:
        return
    if draws[0] < 0.4:
        radio["reuse"] = min(int(rng.integers(1, 3)), n_aps)  # no channel without an AP
    if draws[1] < 0.3:
        radio["scheduler"] = str(rng.choice(["rr", "pf", "max_ci"]))
    elif draws[2] < 0.3:
        radio["combining"] = str(rng.choice(["mrc", "mmse_irc"]))
        radio["antennas_per_ap"] = int(rng.integers(1, 4))
    if draws[3] < 0.3:
        radio["power_control"] = {"p0_dbm": float(rng.uniform(-90, -50)), "alpha": 0.8}
    if draws[4] < 0.3:
        radio["downlink"] = "unicast"


def _nr_link(radio: dict[str, Any], rng: np.random.Generator) -> None:
    """After the shared air (so it stays as it was): the NR link abstraction, on links that
    adapt their rate on one receive antenna, with few HARQ transmissions so uploads get
    lost."""
    draws = rng.random(3)
    if "target_rate_bps" in radio or radio.get("combining", "mr") != "mr":
        return
    if draws[0] < 0.3:
        radio["link"] = "nr"
        radio["max_transmissions"] = int(1 + 3 * draws[1])
        radio["mcs_table"] = 1 if draws[2] < 0.5 else 2


def _routed_backhaul(data: dict[str, Any], rng: np.random.Generator) -> None:
    """Drawn last: a routed backhaul (tree, ring or mesh) of slow links, with background
    traffic on the server's uplink and an outage of an AP's first link."""
    draws = rng.random(4)
    if draws[0] >= 0.3:
        return
    kind = ["tree", "ring", "mesh"][int(3 * draws[1])]
    backhaul: dict[str, Any] = {"kind": kind, "capacity_bps": float(10 ** (6 + 2 * draws[2]))}
    if kind == "tree":  # a ring or a mesh has no switches (the field would be refused)
        backhaul["aps_per_switch"] = 2
    if draws[3] < 0.5:
        backhaul["background"] = [
            {"link": ["core", "server"], "rate_bps": backhaul["capacity_bps"] / 2,
             "on_s": 0.2, "off_s": 0.3}
        ]  # fmt: skip
    else:  # ap0's link towards the core: to sw0 in a tree, to the core in a ring or mesh
        link = ["ap0", "sw0" if kind == "tree" else "core"]
        backhaul["outages"] = [{"link": link, "start_s": 0.1, "duration_s": 0.5}]
    data["backhaul"] = backhaul


def _hierarchy(data: dict[str, Any], rng: np.random.Generator) -> None:
    """Drawn after the backhaul: random link failures on a routed one; hierarchical FL on a
    tree (its switches as edge servers) where the rest allows it (synchronous rounds, no
    mobility), with a cloud deadline or over-commitment now and then."""
    draws = rng.random(7)
    eligible = data["protocol"]["mode"] == "sync" and "mobility" not in data
    backhaul = data.get("backhaul")
    if backhaul is None:  # often enough a tree of its own, for the edge servers
        if not eligible or draws[6] >= 0.4:
            return
        backhaul = data["backhaul"] = {"kind": "tree", "capacity_bps": 1e7, "aps_per_switch": 1}
    if draws[0] < 0.3:
        backhaul["failures"] = {"mtbf_s": float(0.2 + 2 * draws[1]), "mttr_s": 0.1}
    if backhaul["kind"] != "tree" or not eligible or draws[2] >= 0.6:
        return
    backhaul["edge_servers"] = True
    for outage in backhaul.get("outages", []):
        outage["link"] = [n.replace("sw", "edge") for n in outage["link"]]
    hierarchy: dict[str, Any] = {"k1": int(1 + 2 * draws[3]), "k2": int(1 + 3 * draws[4])}
    if draws[5] < 0.3:
        hierarchy["deadline_s"] = float(0.5 + 3 * draws[5])
    elif draws[5] < 0.5:
        hierarchy["target_edges"] = 1
    data["hierarchy"] = hierarchy


def check_run(result: SimulationResult) -> None:
    """The invariants of every run (AssertionError naming the first one broken)."""
    e = result.events
    t = e["t_s"].to_numpy()
    assert np.all(np.diff(t) >= 0), "events out of time order"
    piu = e[e["role"] == "piu"]
    spent = piu[piu["event"] != "harvest"].groupby("node")["energy_j"].sum()
    for name, start in result.initial_battery_j.items():
        if math.isinf(start):
            continue
        used = float(spent.get(name, 0.0))
        end = result.final_battery_j[name]
        harvested = result.harvested_j.get(name, 0.0)
        # float64 sums over the ledger's entries: a few ulps of the battery per entry
        tol = 8 * np.finfo(float).eps * max(start, 1.0) * (len(piu) + 1)
        assert abs(start - used + harvested - end) <= tol, f"{name}: energy ledger off"
        assert end >= -tol, f"{name}: battery below zero"
    _check_updates_accounted(result)
    epsilon = result.rounds["epsilon"].to_numpy()
    if result.scenario.dp.level != "none":  # composition only adds up
        assert np.all(np.diff(epsilon) >= 0) and not np.isnan(epsilon).any(), "epsilon"


def _check_updates_accounted(result: SimulationResult) -> None:
    """Every training a PIU started ends in exactly one fate: its update reached the
    server (received, or discarded there as too late), or the PIU says why not (abort,
    offline, lost after its retransmissions, skip, battery empty), or the run ended first."""
    e = result.events
    fates = 0
    started = e[e["event"] == "train_start"]
    server = e[e["role"].isin(["server", "edge"])]  # edge servers aggregate too
    for _, job in started.iterrows():
        name, r, t0 = job["node"], job["round"], job["t_s"]
        later = e[(e["node"] == name) & (e["t_s"] >= t0) & (e.index > job.name)]
        nxt = later[later["event"] == "train_start"]
        upto = nxt["t_s"].iloc[0] if len(nxt) else math.inf
        own = later[later["t_s"] <= upto] if len(nxt) == 0 else later[later.index < nxt.index[0]]
        sent = own[own["event"] == "tx_end"]
        if len(sent):
            t_sent = float(sent["t_s"].iloc[0])
            received = server[
                server["event"].isin(["rx_update", "discard"])
                & server["detail"].str.match(rf"{name}( |$)")
                & (server["t_s"] >= t_sent)
                & (server["t_s"] <= upto)
            ]
            assert len(received) == 1 or (upto == math.inf and received.empty), (
                f"{name} round {r}: update sent at {t_sent} reached the server "
                f"{len(received)} times"
            )
        else:
            gave_up = own["event"].isin(["abort", "offline", "battery_empty"]).any()
            failed = (own["event"] == "tx_fail").any()
            assert gave_up or failed or upto == math.inf, (
                f"{name} round {r}: training started at {t0} without a fate"
            )
        fates += 1
    assert fates == len(started)


COVERED = (
    "handover", "dl_forward", "offline", "abort", "tx_fail", "deadline_miss", "cut",
    "discard", "skip", "battery_empty", "harvest", "send_end", "link_down",
)  # fmt: skip


def main(count: int) -> int:
    """Run ``count`` random scenarios; print each failure and how many runs saw each of the
    interacting situations (so a quiet pass is not a pass over nothing)."""
    failures = 0
    seen = dict.fromkeys((*COVERED, "edge rounds", "dp", "predictive", "streaming"), 0)
    for seed in range(count):
        scenario = random_scenario(seed)
        try:
            result = Simulation(scenario).run()
            check_run(result)
        except Exception as exc:  # noqa: BLE001 - report every failing scenario
            failures += 1
            print(f"seed {seed}: {type(exc).__name__}: {exc}", flush=True)
            continue
        for event in set(result.events["event"]) & set(COVERED):
            seen[event] += 1
        seen["edge rounds"] += int((result.rounds["tier"] == "edge").any())
        seen["dp"] += int(scenario.dp.level != "none")
        seen["predictive"] += int(scenario.protocol.selection == "predictive")
        seen["streaming"] += int(scenario.server.streaming is True)
    for seed in range(count // 4):
        try:
            check_run(Simulation(streaming_scenario(seed)).run())
            seen["streaming"] += 1
        except Exception as exc:  # noqa: BLE001
            failures += 1
            print(f"streaming seed {seed}: {type(exc).__name__}: {exc}", flush=True)
    print(f"{count} random scenarios, {failures} failed; runs with each event: {seen}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
