"""Tests of netsim.scenario: validation, messages, overrides."""
