"""Feature scalers (log10 + standardisation) and the train/validation/test split."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.split import split_events, take_events


def test_scaler_fit_transform_inverse():
    t = make_tables(2000, seed=5)
    scaler = FeatureScaler.fit(t.events, t.objects)
    z = scaler.transform_objects(t.objects)
    for symbol in ("j", "b"):
        sel = z[z["type"] == symbol]
        for f in ("e", "pt", "eta", "phi"):
            assert sel[f].mean() == pytest.approx(0.0, abs=1e-5)  # float32 features
            assert sel[f].std(ddof=0) == pytest.approx(1.0, rel=1e-5)
    jets = t.objects[t.objects["type"] == "j"]
    assert scaler.objects["j"]["pt"].mean == pytest.approx(np.log10(jets["pt"]).mean())
    # JSON round trip then inverse gives back GeV values.
    again = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    back = again.inverse_objects(z)
    for f in ("e", "pt", "eta", "phi"):
        np.testing.assert_allclose(back[f], t.objects[f], rtol=1e-5, atol=1e-5)
    ze = again.transform_events(t.events)
    assert ze["met"].mean() == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(again.inverse_events(ze)["met"], t.events["met"], rtol=1e-10)


def test_inverse_wraps_phi():
    t = make_tables(200, seed=2)
    scaler = FeatureScaler.fit(t.events, t.objects)
    z = scaler.transform_objects(t.objects)
    z["phi"] = z["phi"] + 50.0  # far outside the range the model was fitted on
    assert (np.abs(scaler.inverse_objects(z)["phi"]) <= np.pi).all()


def test_split_is_deterministic_and_exact():
    fr = {"train": 0.8, "validation": 0.1, "test": 0.1}
    a = split_events(1001, fr, seed=3)
    b = split_events(1001, fr, seed=3)
    c = split_events(1001, fr, seed=4)
    assert (a == b).all() and not (a == c).all()
    counts = a.value_counts()
    assert counts["validation"] == 100 and counts["test"] == 100 and counts["train"] == 801
    with pytest.raises(ValueError, match="sum to 1"):
        split_events(10, {"train": 0.5, "test": 0.1}, seed=0)


def test_take_events_renumbers_events_and_their_objects():
    events = pd.DataFrame({"event_index": np.arange(5), "met": [10.0, 11.0, 12.0, 13.0, 14.0]})
    objects = pd.DataFrame({"event_index": [0, 1, 1, 3, 4], "pt": [1.0, 2.0, 3.0, 4.0, 5.0]})
    ev, obj = take_events(events, objects, np.array([3, 1]))
    assert list(ev["met"]) == [13.0, 11.0] and list(ev["event_index"]) == [0, 1]
    assert obj.sort_values("pt")[["event_index", "pt"]].values.tolist() == [[1, 2.0], [1, 3.0], [0, 4.0]]
