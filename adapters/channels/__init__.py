"""Channel plugins: one folder per kind, registered by the composition root."""
