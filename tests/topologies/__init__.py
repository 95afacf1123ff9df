"""Tests of the topologies: builders and GraphML/GML files (read when the world is built)."""
