"""Twilio pieces both Twilio channels share: REST client over httpx, sender with safe retries."""
