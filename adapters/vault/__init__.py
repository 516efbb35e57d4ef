"""Secret vault adapters: encryption of secrets at rest."""
