"""The Dask scaling benchmark (issue #14 item 6): the MC chain and a folder of raw files on 1 and 2 workers."""

from __future__ import annotations

import yaml
from conftest import ROOT

from lhc_vae.benchmarks.scaling import scaling_efficiency
from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.datasets import DarkMachinesFile
from lhc_vae.events.darkmachines import write_darkmachines
from lhc_vae.pipelines.benchmark.nodes import benchmark_scaling

MC = yaml.safe_load((ROOT / "conf" / "base" / "parameters_mc.yml").read_text())["mc"]


def test_scaling_efficiency_is_the_speedup_per_worker():
    runs = scaling_efficiency([{"workers": 1, "events_per_second": 100.0}, {"workers": 2, "events_per_second": 150.0}])
    assert [(r["speedup"], r["efficiency"]) for r in runs] == [(1.0, 1.0), (1.5, 0.75)]


def test_scaling_benchmark_runs_each_step_on_one_and_two_workers(tmp_path):
    """40 ttbar events in blocks of 40 tried, and a folder of 3 copies of a 500-event file: every
    worker count makes the same 40 events (the node checks the tables are identical) and parses
    exactly 1 500 events with no reject (the node raises if the MC tables differ between worker
    counts); each worker reports its own peak memory."""
    raw = tmp_path / "ttbar.csv"
    write_darkmachines(make_tables(500, seed=3), raw)
    mc = {**MC, "block_size": 40}
    params = {"scaling": {"workers": [1, 2], "mc_events": 40, "parse_files": 3}}
    result = benchmark_scaling(DarkMachinesFile(raw), "ttbar", 5, mc, params)
    assert [(r["workers"], r["events"]) for r in result["mc"]] == [(1, 40), (2, 40)]
    parsed = result["preprocessing"]
    assert [(r["workers"], r["events"], r["files"], r["rejected"]) for r in parsed] == [
        (1, 1500, 3, 0),
        (2, 1500, 3, 0),
    ]
    for r in (*result["mc"], *parsed):
        assert len(r["worker_peak_rss_mb"]) == r["workers"]
