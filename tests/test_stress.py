"""A fast subset of the random-scenario stress test (tests/stress.py): mobility and
handover, churn, deadlines, over-commitment, FedAsync/FedBuff, outages and retransmissions,
harvesting, compression with error feedback and several APs, combined at random; every run
keeps time order, an exact energy ledger and a fate for every update."""

from __future__ import annotations

import pytest

from netsim import Simulation
from tests.stress import check_run, random_scenario, streaming_scenario


@pytest.mark.parametrize("seed", range(40))
def test_random_scenarios_keep_the_invariants(seed):
    check_run(Simulation(random_scenario(seed)).run())


@pytest.mark.parametrize("seed", range(8))
def test_streamed_random_scenarios_keep_the_invariants(seed):
    """Streaming FedAvg over the shared air, schedulers, routed backhauls and stragglers:
    every trained update arrives (the run fails otherwise) and the invariants hold."""
    scenario = streaming_scenario(seed)
    assert scenario.server.streaming is True
    check_run(Simulation(scenario).run())
