"""The SimPy processes: PIUs, access points and the aggregation server."""
