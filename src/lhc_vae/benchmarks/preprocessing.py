"""Preprocessing benchmark: parse speed on one core and peak memory of the whole pipeline.

    python -m lhc_vae.benchmarks.preprocessing --events 1000000

Writes a synthetic Dark Machines file of that many events with the project's writer under
``data/01_raw/benchmark/ttbar.csv``, times the parsing stage in this process, then runs
``kedro run --pipeline=preprocessing --params source=benchmark`` in a child process and reports
its wall time and peak RSS. Prints a JSON summary and writes it to
``data/08_reporting/benchmark/preprocessing_benchmark.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.events.darkmachines import iter_chunks, write_darkmachines
from lhc_vae.io import atomic_path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    raw = Path("data/01_raw/benchmark/ttbar.csv")
    t0 = time.perf_counter()
    tables = make_tables(args.events, seed=args.seed)
    write_darkmachines(tables, raw)
    write_s = time.perf_counter() - t0
    del tables

    t0 = time.perf_counter()
    n_events = n_lines = 0
    for chunk in iter_chunks(raw):
        n_events += len(chunk.events)
        n_lines += chunk.n_lines
    parse_s = time.perf_counter() - t0

    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "OMP_NUM_THREADS": "1",
        "ARROW_DEFAULT_MEMORY_POOL": "jemalloc",
    }
    # The child reports its own high-water mark (VmHWM is per address space; ru_maxrss of a
    # child would include this parent's memory copied at fork).
    launcher = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: sys.stderr.write(\n"
        "    next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))))\n"
        "sys.argv = ['kedro', 'run', '--pipeline=preprocessing', '--params', 'source=benchmark']\n"
        "runpy.run_module('kedro', run_name='__main__')\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", launcher], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    pipeline_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the preprocessing pipeline failed:\n{proc.stderr[-3000:]}")
    peak_rss_mb = int(proc.stderr.rsplit("VmHWM:", 1)[1].split()[0]) / 1024

    result = {
        "events": n_events,
        "lines": n_lines,
        "file_mb": raw.stat().st_size / 2**20,
        "write_seconds": write_s,
        "write_events_per_second": n_events / write_s,
        "parse_seconds": parse_s,
        "parse_events_per_second": n_events / parse_s,
        "pipeline_seconds": pipeline_s,
        "pipeline_peak_rss_mb": peak_rss_mb,
    }
    out = Path("data/08_reporting/benchmark/preprocessing_benchmark.json")
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
