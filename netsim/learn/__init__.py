"""Learning: data sets, partitioning across PIUs, and the trainer that runs local updates."""
