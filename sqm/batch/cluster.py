"""Running jobs on dask.distributed: a LocalCluster on this PC by default, or the
scheduler at `--scheduler ADDRESS`; a progress bar over runs (a line per run without a
terminal). dask.distributed is the ecosystem's scheduler for many independent Python
tasks over local processes or other PCs, so it is used rather than a pool of our own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import UserInputError

Job = TypeVar("Job")
Result = TypeVar("Result")
CONNECT_TIMEOUT_S = 10


def open_client(scheduler: str | None, workers: int):
    """A Dask client: on the scheduler at `scheduler` (UserInputError, one line, if it cannot be
    reached), else on a LocalCluster of `workers` processes of one thread each on loopback."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UserInputError("batch runs need dask.distributed: pip install -e '.[batch]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as error:
            raise UserInputError(f"--scheduler {scheduler}: cannot reach it ({' '.join(str(error).split())})") from None
    if workers < 1:
        raise UserInputError(f"--workers must be 1 or more, got {workers}")
    import dask

    # Dask sets MALLOC_TRIM_THRESHOLD_=65536 in its workers so they hand memory back to the
    # system; a twin run allocates its numpy temporaries by the thousand, and each then
    # costs a fresh mapping: runs took 2x as long in a worker as in this process. The
    # thread limits (one BLAS thread a worker) stay.
    environ = {key: value for key, value in dask.config.get("distributed.nanny.pre-spawn-environ").items()
               if key != "MALLOC_TRIM_THRESHOLD_"}
    dask.config.set({"distributed.nanny.pre-spawn-environ": environ})
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    return Client(cluster)


def close_client(client) -> None:
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def run_all(jobs: list[Job], work: Callable[[Job], Result], client=None, label: str = "runs",
            describe: Callable[[Result], str] = str) -> list[Result]:
    """`work(job)` for every job, on `client`'s workers (None: here, one after another),
    with a bar over the jobs on a terminal, else one line per finished job. Results in
    the jobs' order."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=label, unit="run", file=sys.stderr) if sys.stderr.isatty() else None
    results: dict[int, Any] = {}

    def finished(position: int, result: Any) -> None:
        results[position] = result
        if bar is not None:
            bar.update(1)
        else:
            print(f"{label}: {len(results)}/{len(jobs)} {describe(result)}", file=sys.stderr, flush=True)

    try:
        if client is None:
            for position, job in enumerate(jobs):
                finished(position, work(job))
        else:
            from dask.distributed import as_completed

            futures = client.map(work, jobs, pure=False)
            positions = {future.key: position for position, future in enumerate(futures)}
            for future in as_completed(futures):
                finished(positions[future.key], future.result())
    finally:
        if bar is not None:
            bar.close()
    return [results[position] for position in range(len(jobs))]

