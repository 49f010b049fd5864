"""Real instruments behind the roles (pymeasure/pyvisa drivers and their adapters).

One adapter module per instrument of docs/instruments.md (keithley, ami430,
lakeshore336, sr830, anc300, nidaq), each with its wire-level tests; `backend.py`
builds them from a station file's `hardware:` block and is registered in the
`sqm.backends` entry-point group, like the twin's `sim`.
"""
