"""SQM: scanning SQUID microscope control.

The core (this package) holds the roles, station, clock, procedures, runner, store,
analysis and command line. Backends (`sqm.sims`, `sqm.drivers`) and the GUI
(`sqm.gui`) sit on top of it; the core never imports them.
"""

__version__ = "0.1.0"
