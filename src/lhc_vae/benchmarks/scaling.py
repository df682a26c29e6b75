"""Dask scaling of the project's parallel steps (issue #14 item 6): the Monte Carlo chain and the
parsing of a folder of Dark Machines files, each on a LocalCluster of 1, 2, ... workers.

Used by the ``scaling`` pipeline (``kedro run --pipeline=scaling``, also part of ``benchmark``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lhc_vae.cluster import available_cores, dask_client, peak_rss_mb
from lhc_vae.events.darkmachines import read_darkmachines_files
from lhc_vae.mc.simulation import generate


def on_local_cluster(n_workers: int, work: Callable[[str], tuple[int, Any]]) -> tuple[dict[str, Any], Any]:
    """``work(scheduler_address) -> (events, result)`` on a fresh LocalCluster of ``n_workers``
    single-threaded processes (:func:`lhc_vae.cluster.dask_client`), reached by its address as a
    remote cluster would be: the work's wall time and events/s (the cluster's start-up timed apart)
    and each worker's peak RSS."""
    t0 = time.perf_counter()
    with dask_client(n_workers) as client:
        started = time.perf_counter() - t0
        t1 = time.perf_counter()
        events, result = work(client.scheduler.address)
        seconds = time.perf_counter() - t1
        peaks = sorted(client.run(peak_rss_mb).values())
    figures = {
        "workers": n_workers,
        "events": events,
        "seconds": seconds,
        "events_per_second": events / seconds,
        "cluster_start_seconds": started,
        "worker_peak_rss_mb": peaks,
    }
    return figures, result


def scaling_efficiency(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run's speed-up over the one-worker run and its efficiency, speed-up / workers."""
    base = next(r for r in runs if r["workers"] == 1)["events_per_second"]
    return [
        {**r, "speedup": r["events_per_second"] / base, "efficiency": r["events_per_second"] / base / r["workers"]}
        for r in runs
    ]


def measure_scaling(
    sources: list[Path],
    process: str,
    pythia_settings: list[str],
    mc: dict[str, Any],
    seed: int,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The Dask steps on each number of workers in ``settings["workers"]`` (1 among them):

    * ``mc``: ``settings["mc_events"]`` accepted events of the process's Pythia8 chain (the ``mc``
      pipeline's blocks of ``mc.block_size`` tried events, Pythia8's initialisation included) with a
      fresh checkpoint folder; the tables must be identical on any number of workers (else an error);
    * ``preprocessing``: a folder of ``settings["parse_files"]`` copies of the raw files ``sources``
      (in turn), parsed one file per Dask task (``read_darkmachines_files``, as for
      ``data/01_raw/<source>/<process>/*.csv``).

    Each figure: wall time of the work, events/s, speed-up and efficiency against one worker, and the
    peak RSS of every worker (the client's, which joins the results, is this process's own)."""
    workers = [int(w) for w in settings["workers"]]
    if 1 not in workers:
        raise ValueError("benchmark.scaling.workers must include 1 (the reference of the speed-ups)")
    scratch = Path(tempfile.mkdtemp(prefix="lhc_vae_scaling_"))
    try:
        (scratch / "raw").mkdir()
        files = []
        for k in range(int(settings["parse_files"])):
            source = sources[k % len(sources)]
            files.append(scratch / "raw" / f"{process}_{k:02d}{''.join(source.suffixes)}")
            shutil.copyfile(source, files[-1])
        mc_runs, parse_runs, tables = [], [], []
        for w in workers:

            def mc_work(address: str, w: int = w) -> tuple[int, Any]:
                sample, _ = generate(
                    n_events=int(settings["mc_events"]),
                    process_id=process,
                    settings=list(pythia_settings),
                    detector_cfg=mc["detector"],
                    seed=seed,
                    n_workers=w,
                    block_size=int(mc.get("block_size", 200)),
                    progress=False,
                    scheduler=address,
                    checkpoint_root=scratch / f"mc_{w}",
                )
                return sample.n_events, sample

            def parse_work(address: str, w: int = w) -> tuple[int, Any]:
                parsed = read_darkmachines_files(files, n_workers=w, scheduler=address)
                return sum(p.tables.n_events for p in parsed), sum(p.n_rejected for p in parsed)

            figures, sample = on_local_cluster(w, mc_work)
            mc_runs.append(figures)
            tables.append(sample)
            figures, rejected = on_local_cluster(w, parse_work)
            parse_runs.append({**figures, "files": len(files), "rejected": rejected})
        if not all(t.events.equals(tables[0].events) and t.objects.equals(tables[0].objects) for t in tables):
            raise RuntimeError(f"{process}: the MC tables differ between {workers} workers; the seeding is broken")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "cores": available_cores(),
        "mc": scaling_efficiency(mc_runs),
        "preprocessing": scaling_efficiency(parse_runs),
        "client_peak_rss_mb": peak_rss_mb(),
        "note": "events/s of the work on a running LocalCluster (its start-up in cluster_start_seconds); "
        "efficiency = speed-up over 1 worker / workers; worker_peak_rss_mb: VmHWM of each worker process; "
        "client_peak_rss_mb: this Kedro process, which joins the results, over the whole run",
    }
