"""Run files over the network: `sqm serve DIR` (the serve extra: Tiled, bluesky's data service).

- run_folder.py: a folder of run files as a Tiled tree (Tiled's HDF5 adapter, one file per node);
- serve.py: the command: who may read (an API key), where it listens, until Ctrl-C.

Nothing in the suite imports this package; the command line finds it by name (entry
point group sqm.commands), so the core runs without Tiled installed.
"""
