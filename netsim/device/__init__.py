"""Device models: compute time and energy, stragglers, battery ledger."""
