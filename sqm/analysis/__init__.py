"""Analysis: pure functions on measured arrays (SI units in, flux in Phi0)."""
