"""Outbound webhooks: signed POSTs of lead events to tenants' URLs."""
