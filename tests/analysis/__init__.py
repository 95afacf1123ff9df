"""Tests of netsim.analysis: breakdowns, figures, the report."""
