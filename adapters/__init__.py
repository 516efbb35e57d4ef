"""Adapters: one folder per outside world."""
