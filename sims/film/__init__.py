"""Thin-film electrodynamics of the twin on a grid (PHYSICS.md layer A and E)."""
