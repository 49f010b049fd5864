"""sqm_paper: one experiment run with the SQM suite, the paper on Fe(Se,Te) whose
figures the twin reproduces.

`sqm demo` (found through the entry point group sqm.commands) runs its procedure
files (configs/procedures/) on the station file's twin and writes the run files,
the figures (`figures`) and the numbers they rest on; `analysis` holds the paper's
thresholds and the features its figures report. The core `sqm` never imports this
package; this package speaks to the twin only through station files.
"""
