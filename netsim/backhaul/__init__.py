"""The wired network behind the APs: links, routes and flow-level sharing (PHYSICS.md 10)."""
