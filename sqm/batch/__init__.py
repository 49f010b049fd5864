"""Many twin runs at once: a sweep over station or sample parameters (`sqm sweep`), and a
fit of twin parameters to a measured loop (`sqm fit`), both through dask.distributed.

Homes: `variations` (what --vary means, the texts of each run), `runs` (one run, as a
worker does it), `summary` (the figures read from a run, the summary table), `cluster`
(the Dask client and running jobs on it with a progress bar), `fit` (least squares).
"""
