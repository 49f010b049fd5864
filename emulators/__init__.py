"""Instrument emulators: the real drivers against the twin's physics, over the wire.

Each emulator is a TCP server on 127.0.0.1 speaking one instrument's protocol as the
drivers in sqm.drivers expect it (terminations, replies, error queue, status codes),
answering from the twin's world (sqm.sims) on the station's lab time, which runs
`speed` times faster than the wall (sqm.clock.ScaledClock). Faults can be injected at
the wire (no reply, a garbled reply, a dropped connection that may come back) and in
the instrument (an error-queue entry, a quench, an invalid reading, a heater fault, an
unlocked SQUID).

- link.py: the world the emulators share, advanced to the lab time before each use;
- server.py: the TCP server and the emulator base class;
- faults.py: what can go wrong, when, and for how long;
- instruments/: one module per instrument;
- registry.py: which emulator answers for which driver;
- backend.py: the `emulated` station backend (starts the emulators, then the drivers);
- cli.py: `sqm emulate`, the emulators alone.
"""
