"""Text utilities backed by the `regex` module."""
