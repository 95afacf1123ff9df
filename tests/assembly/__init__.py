"""Tests of netsim.assembly's builders: algorithms and protocols, spectrum, tiers, learning."""
