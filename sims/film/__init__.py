"""Thin-film electrodynamics of the twin on a grid (layers A and E of docs/physics.md)."""
