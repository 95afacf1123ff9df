"""Tests of netsim.fl and the protocols: FedAvg, deadlines, asynchronous modes,
controllers, robust rules, selection."""
