"""The Monte Carlo chain: detector formulas, and physics of small Pythia8 samples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, kedro

from lhc_vae.events.darkmachines import read_darkmachines, write_darkmachines
from lhc_vae.events.observables import hadronic_top_candidates, invariant_mass
from lhc_vae.events.schema import multiplicities
from lhc_vae.events.selection import evaluate_selection
from lhc_vae.mc import detector as det
from lhc_vae.mc.simulation import generate

MC = yaml.safe_load((ROOT / "conf" / "base" / "parameters_mc.yml").read_text())["mc"]
DET = MC["detector"]


def test_btag_efficiency_matches_the_card():
    pt = np.array([20.0, 50.0, 100.0, 100.0, 100.0])
    flavour = np.array([5, 5, 5, 4, 0])
    eff = det.btag_efficiency(pt, flavour, DET["btag"])
    expected_b = 0.80 * np.tanh(0.003 * pt[:3]) * 30 / (1 + 0.086 * pt[:3])
    np.testing.assert_allclose(eff[:3], expected_b)
    assert eff[3] == pytest.approx(0.20 * np.tanh(0.02 * 100) / (1 + 0.0034 * 100))
    assert eff[4] == pytest.approx(0.002 + 7.3e-6 * 100)


def test_resolutions_and_efficiencies_match_the_card():
    e = np.array([100.0, 100.0, 100.0])
    sigma = det.calorimeter_sigma(e, np.array([0.5, 2.0, 4.0]), DET["jet"]["resolution"])
    assert sigma[0] == pytest.approx(np.sqrt((0.0302 * 100) ** 2 + 0.5205**2 * 100 + 1.59**2))
    assert sigma[1] == pytest.approx(np.sqrt((0.05 * 100) ** 2 + 0.706**2 * 100))
    rel = det.tracker_sigma_over_pt(np.array([50.0]), np.array([1.0]), DET["muon"]["resolution"])
    assert rel[0] == pytest.approx(np.hypot(0.015, 1.5e-4 * 50))
    eff = det.binned(
        np.array([0.0, -1.6, 2.6]),
        **{"edges": DET["electron"]["efficiency"]["eta_edges"], "table": DET["electron"]["efficiency"]["values"]},
    )
    np.testing.assert_allclose(eff, [0.95, 0.85, 0.0])


def test_invariant_mass_of_back_to_back_pair():
    p = np.array([[50.0, 50.0, 0.0, 0.0]]) + np.array([[50.0, -50.0, 0.0, 0.0]])
    assert invariant_mass(p)[0] == pytest.approx(100.0)


@pytest.fixture(scope="module")
def ttbar():
    s = MC["processes"]["ttbar"]["settings"]
    return generate(400, "ttbar", s, DET, seed=11, n_workers=2, block_size=100, progress=False)


@pytest.mark.slow
def test_ttbar_physics(ttbar, tmp_path):
    tables, stats = ttbar
    n = tables.n_events
    assert n == 400 and stats["events_tried"] >= n
    assert 0.6 < stats["acceptance"] <= 1.0
    assert 300 < stats["sigma_pb"] < 800  # LO Pythia8 ttbar at 13 TeV is about 0.5 nb
    counts = multiplicities(tables.objects, n)
    jets = counts["n_j"] + counts["n_b"]
    assert 3.0 < jets.mean() < 7.5  # ttbar: typically 4-6 jets with pT > 20 GeV
    assert 0.8 < counts["n_b"].mean() < 1.8  # two b quarks, ~60-70 % tagging inside |eta| < 2.5
    assert 0.15 < (counts[["n_em", "n_ep", "n_mm", "n_mp"]].sum(axis=1) > 0).mean() < 0.6
    # every written event passes the §3.1 selection, φ in range, E >= pT
    assert evaluate_selection(tables.objects, n)["passes_selection"].all()
    assert (tables.objects["phi"].abs() <= np.pi).all() and (tables.objects["e"] >= tables.objects["pt"] * 0.999).all()
    masses = hadronic_top_candidates(tables.objects, n)
    assert 130 < np.nanmedian(masses["m_top"]) < 210  # hadronic top peak near 173 GeV
    # W: the two light jets of events with exactly two of each (mostly the hadronic W)
    two = np.flatnonzero((counts["n_j"] == 2) & (counts["n_b"] == 2))
    light = tables.objects[tables.objects["event_index"].isin(two) & (tables.objects["type"] == "j")]
    from lhc_vae.events.observables import four_momenta

    p4 = four_momenta(light.sort_values("event_index"))
    m_jj = invariant_mass(p4[0::2] + p4[1::2])
    assert 55 < np.median(m_jj) < 110
    # the file re-reads with zero rejects
    write_darkmachines(tables, tmp_path / "ttbar.csv")
    parsed = read_darkmachines(tmp_path / "ttbar.csv")
    assert parsed.n_rejected == 0 and parsed.tables.n_events == n


@pytest.mark.slow
def test_stop_has_more_met_than_ttbar(ttbar, monkeypatch):
    monkeypatch.chdir(ROOT)  # the SLHA path in the settings is relative to the project root
    stop, stop_stats = generate(
        200, "stop_02", MC["processes"]["stop_02"]["settings"], DET, seed=3, n_workers=1, block_size=100, progress=False
    )
    assert 1.0 < stop_stats["sigma_pb"] < 20.0  # LO stop pairs at 300 GeV: a few pb
    assert stop.events["met"].mean() > 1.3 * ttbar[0].events["met"].mean()


@pytest.mark.slow
@pytest.mark.long
def test_same_seed_same_file_on_any_number_of_workers_and_after_a_resume(project):
    """Blocks run on a dask LocalCluster; the file is byte-identical on 1 or 2 workers, without
    checkpoints or resumed from the blocks an interrupted run left (issue #14 items 1-2)."""
    common = "mc.n_events=120,mc.block_size=50,seed=5"
    raw = project / "data" / "01_raw" / "pythia"
    kedro(project, "run", "--pipeline=mc", "--params", f"{common},mc.n_workers=1,mc.checkpoint_dir=null")
    first = (raw / "ttbar.csv").read_bytes()
    assert not (raw / ".blocks").exists()
    # written in pieces of 50 events (each piece whole blocks), the re-read summary over its first 100 events
    kedro(
        project,
        "run",
        "--pipeline=mc",
        "--params",
        f"{common},mc.n_workers=2,mc.piece_events=50,mc.validation_events=100",
    )
    second = (raw / "ttbar.csv").read_bytes()
    assert first == second and first.count(b"\n") == 120
    pieces = json.loads((raw / "ttbar.mc_stats.json").read_text())
    assert pieces["summary_events"] == 100 and pieces["reread_lines"] == 120 and pieces["reread_rejects"] == 0
    # an interrupted run leaves some finished blocks (each written atomically, its JSON last): keep
    # block 1 only, remove the file, and run again: blocks 0 and 2 are made, 1 is read
    (blocks,) = list((raw / ".blocks" / "ttbar").iterdir())
    first_three = ["block_000000.json", "block_000001.json", "block_000002.json"]
    assert sorted(p.name for p in blocks.glob("*.json"))[:3] == first_three
    for p in blocks.iterdir():
        if not p.name.startswith("block_000001."):
            p.unlink()
    kept = (blocks / "block_000001.json").stat().st_mtime_ns
    (raw / "ttbar.csv").unlink()
    kedro(project, "run", "--pipeline=mc", "--params", f"{common},mc.n_workers=2")
    assert (raw / "ttbar.csv").read_bytes() == first
    assert sorted(p.name for p in blocks.glob("*.json"))[:3] == first_three
    assert (blocks / "block_000001.json").stat().st_mtime_ns == kept  # read back, not made again
    resumed = json.loads((raw / "ttbar.mc_stats.json").read_text())
    assert resumed["summary_events"] == 120  # mc.validation_events: 200 000 by default
    assert resumed["blocks_resumed"] == 1 and resumed["blocks_computed"] == resumed["n_blocks"] - 1
    assert resumed["accepted_events_per_second"] is None

    stats = json.loads((project / "data" / "01_raw" / "pythia" / "ttbar.mc_stats.json").read_text())
    assert stats["reread_rejects"] == 0 and stats["events_accepted"] == 120 and stats["n_workers"] == 2
    plots = sorted(p.name for p in (project / "data" / "08_reporting" / "pythia" / "ttbar" / "mc_validation").iterdir())
    assert "top_w_masses.png" in plots and "multiplicities_met.png" in plots


def test_a_worker_killed_mid_run_changes_nothing():
    """Kill one worker process of a 2-worker LocalCluster after the first block: the scheduler
    recomputes its blocks elsewhere and the run equals an undisturbed one (issue #14 item 2)."""
    import os
    import signal

    from distributed import Client, LocalCluster

    from lhc_vae.mc.simulation import run_blocks

    cfg = yaml.safe_load((ROOT / "conf" / "base" / "parameters_mc.yml").read_text())["mc"]
    settings = cfg["processes"]["ttbar"]["settings"]

    def args(block: int) -> tuple:
        return (block, 40, "ttbar", settings, cfg["detector"], 11)

    undisturbed = run_blocks(150, args, 40, n_workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
        killed: list[int] = []

        def kill_one(_accepted: int) -> None:
            if not killed:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        disturbed = run_blocks(150, args, 40, n_workers=2, scheduler=cluster.scheduler_address, on_block=kill_one)
    assert killed and len(disturbed) == len(undisturbed) >= 2
    for a, b in zip(disturbed, undisturbed, strict=True):
        pd.testing.assert_frame_equal(a.events, b.events)
        pd.testing.assert_frame_equal(a.objects, b.objects)
