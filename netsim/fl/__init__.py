"""Federated learning: aggregation rules and client selection."""
