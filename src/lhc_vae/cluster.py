"""The Dask cluster the project's parallel steps run on (issue #14): Pythia8 blocks (``mc``), the
files of a folder of Dark Machines files (``preprocessing``) and the chunks of a large generation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def available_cores() -> int:
    """CPUs this process may run on (its affinity): the 'all cores' of the benchmarks."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers(n_workers: int | None, tasks: int | None = None) -> int:
    """``n_workers``, or every core of this machine (at most ``tasks``) when it is not set."""
    n = int(n_workers) if n_workers else (os.cpu_count() or 1)
    return max(1, min(n, tasks) if tasks else n)


@contextmanager
def dask_client(n_workers: int, scheduler: str | None = None) -> Iterator[Any]:
    """A dask.distributed client of the cluster at ``scheduler`` (``tcp://host:8786``, e.g. started
    with dask-jobqueue), or of a LocalCluster of ``n_workers`` single-threaded processes on this
    machine, closed at the end (nothing to start by hand)."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def optional_dask_client(settings: dict[str, Any] | None) -> Iterator[Any]:
    """:func:`dask_client` of ``settings`` (``scheduler``, ``n_workers``) when either is set, else
    None: the work stays in this process (the default of steps that need no cluster, such as
    generation)."""
    settings = settings or {}
    if not settings.get("scheduler") and not settings.get("n_workers"):
        yield None
        return
    with dask_client(default_workers(settings.get("n_workers")), settings.get("scheduler")) as client:
        yield client


def peak_rss_mb() -> float:
    """This process's peak resident memory (``VmHWM`` of ``/proc/self/status``), MB. Sent to Dask
    workers (``client.run``) it gives each worker's; it lives here, away from TensorFlow, so that
    unpickling it on a worker imports nothing heavy."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")
