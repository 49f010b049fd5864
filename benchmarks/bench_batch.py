"""Benchmark: a sweep of twin runs on a Dask LocalCluster against the same runs one after
another in one process, side by side (the speed-up on this machine's cores).

    .venv/bin/python benchmarks/bench_batch.py [--runs 8] [--workers 2] [--quick]

The runs are the paper's bias loop (configs/procedures/fig3_bias_loop.yaml: zero-field
cool, park, a 401-point loop), over N coercivities of the park point's region. The cluster's start-up is timed
apart from the runs. Prints a Markdown table (the README quotes it) and writes
benchmarks/results/batch.json. `--quick`: 2 runs on 2 workers, nothing written.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from sqm.batch.cluster import close_client, open_client, run_all
from sqm.batch.runs import run_job
from sqm.batch.sweep import plan_sweep
from sqm.station import DEFAULT_STATION

HERE = Path(__file__).resolve().parent
COERCIVITY = "sample.regions.lower_right.magnetism.coercivity"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 runs, nothing written")
    arguments = parser.parse_args()
    runs = 2 if arguments.quick else arguments.runs
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        procedure = HERE.parent / "configs" / "procedures" / "fig3_bias_loop.yaml"
        vary = [f"{COERCIVITY}=1.6 A/m:2.3 A/m:{runs}"]
        serial_jobs, _ = plan_sweep(procedure, DEFAULT_STATION, vary, folder / "serial")
        run_job(serial_jobs[0])  # warm this process's caches as a worker warms its own on its first run
        started = time.perf_counter()
        serial = run_all(serial_jobs, run_job, None, label="serial")
        serial_s = time.perf_counter() - started
        parallel_jobs, _ = plan_sweep(procedure, DEFAULT_STATION, vary, folder / "parallel")
        started = time.perf_counter()
        client = open_client(None, arguments.workers)
        client.run(run_job, serial_jobs[0])  # each worker warms up as this process did (imports, caches)
        startup_s = time.perf_counter() - started
        try:
            started = time.perf_counter()
            parallel = run_all(parallel_jobs, run_job, client, label="parallel")
            parallel_s = time.perf_counter() - started
        finally:
            close_client(client)
    same = all(a.figures == b.figures for a, b in zip(serial, parallel))
    lab_s = sum(row.lab_seconds for row in serial)
    results = {"runs": runs, "workers": arguments.workers, "cores": os.cpu_count(), "serial_s": serial_s,
               "cluster_startup_s": startup_s, "parallel_s": parallel_s, "speedup": serial_s / parallel_s,
               "speedup_with_startup": serial_s / (parallel_s + startup_s), "same_figures": same,
               "lab_s": lab_s}
    print(f"{runs} runs of the paper's 401-point bias loop ({lab_s / 3600:.2f} h of lab time), "
          f"{os.cpu_count()} cores\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| one after another, one process | {serial_s:.1f} s |")
    print(f"| LocalCluster of {arguments.workers} workers: start-up, one warm-up run each | {startup_s:.1f} s |")
    print(f"| LocalCluster of {arguments.workers} workers: the runs | {parallel_s:.1f} s |")
    print(f"| speed-up (runs) | {serial_s / parallel_s:.2f}x |")
    print(f"| speed-up (with start-up) | {serial_s / (parallel_s + startup_s):.2f}x |")
    print(f"| same figures as serial | {'yes' if same else 'NO'} |")
    if arguments.quick:
        print("\nquick mode: results not written")
    else:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "batch.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
