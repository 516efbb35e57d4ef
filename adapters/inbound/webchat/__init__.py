"""The web chat channel: people talk to an agent from a browser (the UI's Try-it chat)."""
