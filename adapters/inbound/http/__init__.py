"""HTTP pieces shared by inbound adapters."""
