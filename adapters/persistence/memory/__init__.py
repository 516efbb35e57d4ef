"""In-memory persistence: the four stores behind the ports, for tests and single-process demos."""
