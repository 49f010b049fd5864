"""The digital twin: a physics world of the sample and sensor, and simulated
instruments that fill the same roles as the real ones.

Nothing outside this package knows whether it talks to the twin: the station file
names the `sim` backend and `sims.backend.build_backend` does the rest.
"""
