"""The domain: conversations, leads and the truncation policy."""
