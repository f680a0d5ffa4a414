"""One module per area of the system test; each has probes(config) -> [Probe]."""
