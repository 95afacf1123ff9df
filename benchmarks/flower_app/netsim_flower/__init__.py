"""netsim's Flower-comparison workload as a Flower app (see ../pyproject.toml)."""
