"""netsim/assembly/spectrum.py: each PIU's uplink class in the scenario's uplink mode, the
FDMA sub-band slots (each PIU's rank among its AP's PIUs) and the FDMA RB check of NR
links."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from netsim import Simulation
from netsim.assembly.radio import Air
from netsim.assembly.spectrum import Spectrum, check_fdma_rbs
from netsim.radio.band import Band, resource_blocks
from netsim.radio.links import (
    AdaptiveRateLink,
    CellFreeLink,
    FixedRateLink,
    OverTheAirLink,
    ScheduledLink,
    SharedSpectrumLink,
)
from netsim.rng import Streams
from netsim.scenario import ScenarioError
from tests.conftest import tiny

# two APs 100 m apart (no shadowing, no fading: each PIU is served by the nearer one),
# their PIUs interleaved: serving APs [0, 1, 0, 1, 0]
TWO_CELLS = {
    "ap_positions_m": [[0.0, 0.0], [100.0, 0.0]],
    "piu_positions_m": [[10.0, 0.0], [90.0, 0.0], [20.0, 0.0], [80.0, 0.0], [30.0, 0.0]],
}
SERVING = [0, 1, 0, 1, 0]
RANKS = [0, 0, 1, 1, 2]  # each PIU's rank among its AP's PIUs


def _links(**sections):
    sim = Simulation(tiny(**sections))
    return sim, [p.link for p in sim.pius]


def _only(links, kind):
    assert [type(link) for link in links] == [kind] * len(links)


def test_default_shannon_links_adapt_their_rate():
    sim, links = _links()
    _only(links, AdaptiveRateLink)
    assert [link.piu for link in links] == [0, 1, 2]
    assert all(link.ap == 0 for link in links)
    assert all(link.power_control is None for link in links)


def test_a_target_rate_gives_fixed_rate_links_with_its_retransmissions():
    _, links = _links(radio={"target_rate_bps": 2e5, "max_retransmissions": 3})
    _only(links, FixedRateLink)
    assert {(link.rate_bps, link.max_retransmissions) for link in links} == {(2e5, 3)}


@pytest.mark.parametrize("reuse", [1, 2])
def test_reuse_over_several_aps_shares_one_medium(reuse):
    sim, links = _links(topology=TWO_CELLS, radio={"reuse": reuse})
    assert sim.serving_ap.tolist() == SERVING
    _only(links, SharedSpectrumLink)
    assert all(link.medium is links[0].medium for link in links)
    assert [link.ap for link in links] == SERVING


def test_receive_combining_shares_a_medium_too():
    _, links = _links(radio={"combining": "mrc", "antennas_per_ap": 2})
    _only(links, SharedSpectrumLink)


def test_an_ofdma_scheduler_gives_scheduled_links_on_one_scheduler():
    _, links = _links(radio={"scheduler": "pf"})
    _only(links, ScheduledLink)
    assert all(link.scheduler is links[0].scheduler for link in links)


def test_the_uplink_and_downlink_schedulers_share_one_per_rb_fading():
    # TDD reciprocity: the same per-RB coefficients either way, drawn and cached once
    sim, links = _links(radio={"scheduler": "pf", "downlink": "unicast", "fading": "rayleigh"})
    down = sim.aps[0].downlink.scheduler
    assert down is not links[0].scheduler and down.fading is links[0].scheduler.fading


def test_over_the_air_aggregation_gives_over_the_air_links():
    _, links = _links(ota={"enabled": True})
    _only(links, OverTheAirLink)


def test_cell_free_access_gives_cell_free_links_with_a_full_power_grant():
    sim, links = _links(radio={"access": "cellfree"})
    _only(links, CellFreeLink)
    rate, _ = sim.cellfree_uplink.full_power(np.arange(3), "mr")
    for k, link in enumerate(links):
        assert link.grant is link.default
        assert link.default.power_w == link.max_power_w
        assert link.default.rate_bps == pytest.approx(float(rate[k]), rel=1e-12)


def test_open_loop_power_control_reaches_the_digital_links():
    pc = {"p0_dbm": -60.0, "alpha": 0.8}
    for radio in ({}, {"scheduler": "rr"}):
        _, links = _links(radio={"power_control": pc, **radio})
        for link in links:
            assert (link.power_control.alpha, link.power_control.p0_w) == pytest.approx(
                (0.8, 1e-9), rel=1e-12
            )


@pytest.mark.parametrize(
    "radio",
    [
        {"access": "fdma"},
        {"access": "fdma", "reuse": 1},
        {"access": "fdma", "scheduler": "rr"},
        {"access": "tdma", "reuse": 2},
    ],
)
def test_slots_are_each_pius_rank_among_its_aps_pius(radio):
    s = tiny(topology=TWO_CELLS, radio=radio)
    streams = Streams(s.seed)
    air = Air.build(s, streams)
    assert air.serving_ap.tolist() == SERVING
    spectrum = Spectrum.build(s, air, simpy.Environment(), streams)
    assert spectrum.slots.tolist() == RANKS


@pytest.mark.parametrize("radio", [{"reuse": 1}, {"scheduler": "pf"}])
def test_the_links_take_their_slots(radio):
    _, links = _links(topology=TWO_CELLS, radio={"access": "fdma", **radio})
    assert [link.slot for link in links] == RANKS


# --------------------------------------------------------------------------- NR FDMA check

N_RB = resource_blocks(1e6, 0)  # 5 RBs in 1 MHz at 15 kHz


def _band(bandwidth_hz=1e6, n_aps=2):
    return Band.orthogonal(bandwidth_hz, 1e-20, n_aps)


def test_nr_fdma_with_more_pius_on_an_ap_than_rbs_is_refused_naming_the_bandwidth():
    s = tiny(radio={"link": "nr", "access": "fdma"})
    assert _band().n_rb == N_RB == 5
    with pytest.raises(ScenarioError, match=r"radio\.bandwidth_hz = 1e\+06: too narrow") as err:
        check_fdma_rbs(s, _band(), np.array([2, N_RB + 1]))
    assert f"serves {N_RB + 1} PIUs" in str(err.value)
    assert f"holds {N_RB} resource blocks" in str(err.value)


def test_nr_fdma_with_one_rb_per_piu_passes():
    s = tiny(radio={"link": "nr", "access": "fdma"})
    check_fdma_rbs(s, _band(), np.array([N_RB, 1]))
    check_fdma_rbs(s, _band(), np.array([], dtype=int))


def test_the_rb_check_counts_a_reuse_channels_rbs():
    radio = {"link": "nr", "access": "fdma", "reuse": 2, "bandwidth_hz": 2e6}
    s = tiny(topology=TWO_CELLS, radio=radio)
    band = Band.reused(2e6, 1e-20, np.array([0, 1]), 2)
    assert band.n_rb == N_RB
    with pytest.raises(ScenarioError, match="too narrow"):
        check_fdma_rbs(s, band, np.array([N_RB + 1, 0]))


@pytest.mark.parametrize(
    "radio",
    [
        {"access": "fdma"},  # Shannon links: a sub-band of any width
        {"link": "nr", "access": "tdma"},
        {"link": "nr", "access": "fdma", "scheduler": "pf"},  # RBs shared over time
    ],
)
def test_the_rb_check_is_for_nr_fdma_without_a_scheduler_only(radio):
    check_fdma_rbs(tiny(radio=radio), _band(), np.array([50, 50]))


def test_nr_links_are_scheduled():
    pytest.importorskip("sionna")
    _, links = _links(radio={"link": "nr"})
    _only(links, ScheduledLink)


def test_the_build_refuses_nr_fdma_with_too_many_pius_on_one_ap():
    pytest.importorskip("sionna")
    six = {"piu_positions_m": [[10.0 * (i + 1), 0.0] for i in range(N_RB + 1)]}
    with pytest.raises(ScenarioError, match=r"radio\.bandwidth_hz = 1e\+06: too narrow"):
        Simulation(tiny(topology=six, radio={"link": "nr", "access": "fdma"}))
    five = {"piu_positions_m": six["piu_positions_m"][:N_RB]}
    Simulation(tiny(topology=five, radio={"link": "nr", "access": "fdma"}))
