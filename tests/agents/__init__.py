"""Agents that tests run as `python` executor targets inside a gateway process."""
