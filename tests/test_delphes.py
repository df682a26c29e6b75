"""Delphes ROOT input (issue #15 item 4): a tree with Delphes's branch names, written by uproot,
preprocesses through the same pipeline as a Dark Machines file."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
from conftest import kedro

from lhc_vae.events.delphes import DelphesFormatError, read_delphes

# five events: 0 a b-jet of 70 GeV (trigger) and a soft jet of 10 GeV (fails the cuts); 1 nothing at
# all; 2 an electron of 30 GeV at |eta| 1.0 and a positive muon of 20 GeV; 3 a 40 GeV jet (no trigger);
# 4 a 65 GeV jet of mass 10 GeV at eta 0.5 and a 30 GeV photon
BRANCHES = {
    "Jet.PT": [[70.0, 10.0], [], [], [40.0], [65.0]],
    "Jet.Eta": [[0.3, 1.0], [], [], [0.2], [0.5]],
    "Jet.Phi": [[1.0, 2.0], [], [], [0.5], [-1.0]],
    "Jet.Mass": [[12.0, 2.0], [], [], [5.0], [10.0]],
    "Jet.BTag": [[1, 0], [], [], [0], [0]],
    "Electron.PT": [[], [], [30.0], [], []],
    "Electron.Eta": [[], [], [1.0], [], []],
    "Electron.Phi": [[], [], [0.1], [], []],
    "Electron.Charge": [[], [], [-1], [], []],
    "Muon.PT": [[], [], [20.0], [], []],
    "Muon.Eta": [[], [], [-0.4], [], []],
    "Muon.Phi": [[], [], [3.0], [], []],
    "Muon.Charge": [[], [], [1], [], []],
    "Photon.PT": [[], [], [], [], [30.0]],
    "Photon.Eta": [[], [], [], [], [0.0]],
    "Photon.Phi": [[], [], [], [], [2.5]],
    "MissingET.MET": [[50.0], [5.0], [20.0], [30.0], [80.0]],
    "MissingET.Phi": [[0.5], [0.0], [-2.0], [1.0], [3.0]],
    "Event.Number": [[101], [102], [103], [104], [105]],
}


def _write(path, branches=BRANCHES):
    types = {k: "var * int32" if k.endswith(("BTag", "Charge")) else "var * float64" for k in branches}
    types["Event.Number"] = "var * int64"
    with uproot.recreate(path) as f:
        tree = f.mktree("Delphes", {k: types[k] for k in branches})
        tree.extend({k: ak.Array(v) for k, v in branches.items()})


def test_a_delphes_tree_becomes_dark_machines_objects_with_the_object_cuts_and_selection(tmp_path):
    _write(tmp_path / "ttbar.root")
    sample = read_delphes(tmp_path / "ttbar.root", "ttbar")
    ev, obj = sample.tables.events, sample.tables.objects
    # event 1 (no objects) and 3 (no trigger object) are dropped; the 10 GeV jet fails the cuts
    assert sample.n_entries == 5 and sample.n_objects_failing_cuts == 1 and sample.n_events_failing_selection == 2
    assert ev["event_id"].tolist() == [101, 103, 105] and ev["line"].tolist() == [1, 3, 5]
    assert ev["met"].tolist() == [50.0, 20.0, 80.0] and (ev["process_id"] == "ttbar").all()
    assert obj.groupby("event_index")["type"].apply(lambda t: sorted(t.astype(str))).tolist() == [
        ["b"],
        ["e-", "m+"],
        ["g", "j"],
    ]
    jet = obj[obj["type"] == "j"].iloc[0]  # E^2 = (pT cosh eta)^2 + m^2
    assert jet["e"] == pytest.approx(np.hypot(65.0 * np.cosh(0.5), 10.0), rel=1e-6)
    electron = obj[obj["type"] == "e-"].iloc[0]
    assert electron["e"] == pytest.approx(30.0 * np.cosh(1.0), rel=1e-6)


def test_a_missing_branch_is_named_with_the_file(tmp_path):
    _write(tmp_path / "ttbar.root", {k: v for k, v in BRANCHES.items() if not k.startswith("Photon.")})
    with pytest.raises(DelphesFormatError, match=r"ttbar\.root: .* no branch Photon\.PT, Photon\.Eta, Photon\.Phi"):
        read_delphes(tmp_path / "ttbar.root", "ttbar")


def test_source_delphes_preprocesses_through_the_same_pipeline(project):
    raw = project / "data" / "01_raw" / "delphes"
    raw.mkdir(parents=True)
    _write(raw / "ttbar.root")
    kedro(project, "run", "--pipeline=preprocessing", "--params", "source=delphes,preprocessing.max_reject_fraction=0")
    primary = project / "data" / "03_primary" / "delphes" / "ttbar"
    events = pd.read_parquet(primary / "events.parquet")
    assert events["event_id"].tolist() == [101, 103, 105] and events["passes_selection"].all()
    report = json.loads((primary / "preprocessing_report.json").read_text())
    assert report["n_lines"] == 5 and report["n_events"] == 3 and report["n_rejected"] == 0
    assert report["removed_by_reader"] == {"objects_failing_object_cuts": 1, "events_without_trigger_object": 2}
    assert (project / "data" / "05_model_input" / "delphes" / "ttbar" / "scalers.json").is_file()
