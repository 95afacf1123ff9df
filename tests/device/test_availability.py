"""Availability (on/off traces and churn), heavy-tailed stragglers and over-commitment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netsim import Simulation
from netsim.device.availability import exponential_on_off
from netsim.device.compute import ParetoSlowdown
from netsim.scenario import ScenarioError
from tests.conftest import tiny

# The TINY timeline without churn (tests/conftest.py; checked below): the model reaches every
# PIU at 0.113743 s, training takes 0.1 s, then TDMA uploads: piu0 0.213743-0.296842,
# piu1 -0.393594, piu2 -0.509366 (0.1 W).
PIU2_TX_START = 0.393594


def _traces(tmp_path, **files: str):
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
    return {"availability": {"kind": "trace", "dir": str(tmp_path)}}


def _run(tmp_path, rounds=1, battery_j=10.0, **files):
    device = {**tiny().device.model_dump(), "battery_j": battery_j, **_traces(tmp_path, **files)}
    return Simulation(tiny(device=device, protocol={"rounds": rounds})).run()


def _ev(res, event, node=None):
    e = res.events
    sel = e.event == event
    if node is not None:
        sel &= e.node == node
    return e[sel]


def test_going_offline_mid_transmission_delivers_nothing_and_charges_energy_so_far(tmp_path):
    t_off = PIU2_TX_START + 0.05
    res = _run(tmp_path, rounds=2, piu2=f"time_s,available\n0,1\n{t_off},0\n5.0,1\n")
    tx = _ev(res, "tx_start", "piu2")
    assert tx.t_s.iloc[0] == pytest.approx(PIU2_TX_START, abs=1e-6)  # the timeline above
    assert _ev(res, "tx_end", "piu2").empty  # it never finished sending
    abort = _ev(res, "abort", "piu2")
    assert len(abort) == 1 and abort.detail.iloc[0] == "tx (offline)"
    assert abort.t_s.iloc[0] == pytest.approx(t_off)
    elapsed = t_off - tx.t_s.iloc[0]
    assert abort.duration_s.iloc[0] == pytest.approx(elapsed)
    assert abort.energy_j.iloc[0] == pytest.approx(0.1 * elapsed, rel=1e-9)  # p * time sent
    # nothing of it is aggregated; round 1 does not select it (still offline)
    assert sorted(_ev(res, "rx_update").detail) == ["piu0", "piu0", "piu1", "piu1"]
    assert res.rounds.aggregated.tolist() == [2, 2]
    assert res.rounds.offline.tolist() == [1, 0]
    assert res.rounds.selected.tolist() == [3, 2]
    assert _ev(res, "offline", "piu2").t_s.tolist() == pytest.approx([t_off])
    # the ledger still balances: initial - sum(energy) = final, per PIU
    piu = res.events[res.events.role == "piu"]
    for node, spent in piu.groupby("node").energy_j.sum().items():
        final = res.final_battery_j[node]
        assert res.initial_battery_j[node] - spent == pytest.approx(final, abs=1e-12)


def test_a_model_arriving_while_offline_is_declined_and_the_piu_returns(tmp_path):
    res = _run(tmp_path, rounds=2, piu1="time_s,available\n0.05,0\n0.3,1\n")
    skip = _ev(res, "skip", "piu1")
    assert skip.detail.tolist() == ["offline"] and skip["round"].tolist() == [0]
    assert res.rounds.offline.tolist() == [1, 0]
    assert _ev(res, "online", "piu1").t_s.tolist() == pytest.approx([0.3])
    assert _ev(res, "rx_model", "piu1")["round"].tolist() == [1]  # back for round 1


def test_the_server_waits_while_every_piu_is_offline(tmp_path):
    off = "time_s,available\n0,0\n1.25,1\n"
    res = _run(tmp_path, piu0=off, piu1=off, piu2=off)
    wait = _ev(res, "wait")
    assert wait.t_s.tolist() == [0.0]
    assert res.rounds.t_start_s.iloc[0] == 1.25
    assert res.rounds.aggregated.iloc[0] == 3


def test_a_trace_sets_the_cpu_frequency_of_later_trainings(tmp_path):
    res = _run(tmp_path, rounds=2, piu0="time_s,available,cpu_hz\n0.5,1,2e9\n")
    train = _ev(res, "train_start", "piu0")
    # t = S C / f: 4 samples x 2.5e7 cycles at 1 GHz, then at 2 GHz
    assert train.duration_s.tolist() == pytest.approx([0.1, 0.05])
    assert _ev(res, "cpu_change", "piu0").t_s.tolist() == pytest.approx([0.5])
    # energy kappa C S f^2 quadruples with the frequency
    assert _ev(res, "train_end", "piu0").energy_j.tolist() == pytest.approx([0.01, 0.04])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("time_s,available\n0,2\n", "row 2: available = 2"),
        ("time_s,available\n1,1\n0.5,0\n", "row 3: time_s = 0.5"),
        ("time_s\n0\n", "missing column(s) ['available']"),
        ("time_s,available,cpu_hz\n0,1,-3\n", "row 2: cpu_hz = -3"),
    ],
)
def test_a_bad_trace_file_is_named_with_its_row(tmp_path, text, problem):
    with pytest.raises(ScenarioError) as err:
        _run(tmp_path, piu1=text)
    message = str(err.value)
    assert "device.availability.dir" in message and "piu1.csv" in message
    assert problem in message


def test_a_trace_for_a_missing_piu_is_an_error(tmp_path):
    with pytest.raises(ScenarioError, match="piu0.csv .. piu2.csv"):
        _run(tmp_path, piu7="time_s,available\n0,1\n")


def test_exponential_on_off_has_the_stationary_on_fraction_and_mean_periods():
    mean_on, mean_off, n = 2.0, 1.0, 20_000
    switches = exponential_on_off(mean_on, mean_off, np.random.default_rng(3))
    first = [s for _, s in zip(range(2 * n), switches, strict=False)]
    times, states = [s.t_s for s in first], [s.available for s in first]
    periods = np.diff(times)
    on = periods[np.array(states[:-1])]
    off = periods[~np.array(states[:-1])]
    # exponential periods: sd of a mean of m draws = mean / sqrt(m); 5 sd
    assert on.mean() == pytest.approx(mean_on, abs=5 * mean_on / math.sqrt(len(on)))
    assert off.mean() == pytest.approx(mean_off, abs=5 * mean_off / math.sqrt(len(off)))
    # renewal-reward: the on fraction -> p = on / (on + off); its sd for N cycles is
    # sqrt(((1-p)^2 mu_on^2 + p^2 mu_off^2) / N) / (mu_on + mu_off)
    p = mean_on / (mean_on + mean_off)
    sd = math.sqrt(((1 - p) ** 2 * mean_on**2 + p**2 * mean_off**2) / n) / (mean_on + mean_off)
    assert on.sum() / periods.sum() == pytest.approx(p, abs=5 * sd)


def test_exponential_availability_is_keyed_per_piu():
    def offline_times(n_pius):
        s = tiny(
            topology={"piu_positions_m": [[10.0 * (k + 1), 0.0] for k in range(n_pius)]},
            device={"availability": {"kind": "exponential", "mean_on_s": 0.4, "mean_off_s": 0.2}},
            protocol={"rounds": 3},
        )
        e = Simulation(s).run().events
        return e[(e.event == "offline") & (e.node == "piu0")].t_s.tolist()

    # PIU 0's churn does not depend on how many other PIUs there are (common random numbers)
    first = offline_times(3)
    assert first and first[: len(offline_times(4))] == offline_times(4)[: len(first)]


def test_pareto_slowdown_mean_and_tail():
    shape, n = 3.0, 200_000
    dist = ParetoSlowdown(shape)
    rng = np.random.default_rng(11)
    s = np.array([dist.sample(rng) for _ in range(n)])
    assert s.min() >= 1.0
    assert dist.mean == 1.5 and dist.variance == pytest.approx(0.75)
    assert s.mean() == pytest.approx(dist.mean, abs=5 * math.sqrt(dist.variance / n))
    tail = 2.0**-shape  # P(s > 2) = 2^-shape
    assert (s > 2).mean() == pytest.approx(tail, abs=5 * math.sqrt(tail * (1 - tail) / n))
    assert ParetoSlowdown(1.5).variance == math.inf


def test_over_commitment_keeps_exactly_the_first_k_arrivals():
    base = Simulation(tiny()).run().events
    order = base[base.event == "rx_update"].sort_values("t_s")
    over = {"rounds": 1, "clients_per_round": 3, "target_updates": 2}
    res = Simulation(tiny(protocol=over)).run()
    e = res.events
    assert e[e.event == "rx_update"].detail.tolist() == order.detail.tolist()[:2]
    cut = e[e.event == "cut"]
    assert cut.detail.str.split(":").str[0].tolist() == order.detail.tolist()[2:]
    assert cut.t_s.tolist() == pytest.approx([order.t_s.iloc[1]])  # when the 2nd is in
    r = res.rounds.iloc[0]
    assert (r.selected, r.aggregated, r.dropped) == (3, 2, 1)
    # the cut PIU stops where it was (here, transmitting) and is charged up to then
    abort = e[(e.event == "abort") & (e.node == "piu2")]
    assert abort.detail.tolist() == ["tx"]


def test_over_commitment_needs_a_sensible_target():
    with pytest.raises(ScenarioError, match="protocol.target_updates = 3"):
        tiny(protocol={"clients_per_round": 2, "target_updates": 3})
    with pytest.raises(ScenarioError, match="protocol.deadline_s"):
        tiny(protocol={"mode": "fedasync", "deadline_s": 1.0})


def test_a_run_ends_cleanly_when_no_piu_ever_comes_back(tmp_path):
    gone = "time_s,available\n0,1\n0.15,0\n"  # offline for good mid-training of round 0
    res = _run(tmp_path, rounds=3, piu0=gone, piu1=gone, piu2=gone)
    assert res.rounds.aggregated.tolist() == [0]  # round 0 closes empty, then nobody is left
    stop = _ev(res, "stop")
    assert stop.detail.tolist() == ["nothing left to happen: no PIU will come back"]
    assert _ev(res, "wait").t_s.tolist() == pytest.approx([res.rounds.t_end_s.iloc[0]])
