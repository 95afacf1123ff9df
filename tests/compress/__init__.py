"""Tests of netsim.compress: compressors and pruning."""
