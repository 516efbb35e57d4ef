"""Composition root: settings and containers."""
