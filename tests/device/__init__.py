"""Tests of netsim.device: energy, harvesting, availability."""
