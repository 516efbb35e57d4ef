"""Local stand-ins for outside services, for trying the gateway without accounts."""
