"""Tests of netsim.learn: training, batching, data sets, the training cache."""
