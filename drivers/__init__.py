"""Real instruments behind the roles (pymeasure/pyvisa drivers and their adapters).

Empty in this first slice: the drivers of INSTRUMENTS.md arrive with their
wire-level tests. The `hardware` backend will be registered in the `sqm.backends`
entry-point group, like the twin's `sim`.
"""
