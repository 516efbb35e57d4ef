"""`python -m benchmarks`: load and latency figures of the gateway, measured on loopback.

One run starts everything it needs as child processes (the service as `python -m app serve`,
a Twilio REST double, a bare Quart baseline, a slow agent) and drives them with a load
generator that signs webhooks exactly as Twilio does. See benchmarks/README.md.
"""
