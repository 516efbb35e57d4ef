"""Ports: the boundary the core and the adapters meet at."""
