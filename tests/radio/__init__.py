"""Tests of netsim.radio on the timeline: shadowing, outage, cell-free, over the air, mobility."""
