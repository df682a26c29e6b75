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


def _passing_objects(t):
    """The synthetic objects that pass the §3.1 object cuts, with E >= pT (as real objects are)."""
    from lhc_vae.events.selection import object_passes_cuts

    obj = t.objects[object_passes_cuts(t.objects) & (t.objects["e"] > t.objects["pt"]).to_numpy()]
    return obj.reset_index(drop=True)


def test_detector_representation_round_trip_and_known_values():
    t = make_tables(3000, seed=11)
    obj = _passing_objects(t)
    scaler = FeatureScaler.fit(t.events, obj, "detector")
    jets = obj[obj["type"] == "j"]
    # pT -> ln(pT - 20), eta -> atanh(eta / 2.8), E -> ln(E - pT cosh eta) for jets (§3.1 cuts)
    assert scaler.objects["j"]["pt"].mean == pytest.approx(np.log(jets["pt"] - 20.0).mean(), rel=1e-9)
    assert scaler.objects["j"]["eta"].mean == pytest.approx(np.arctanh(jets["eta"] / 2.8).mean(), abs=1e-9)
    assert scaler.objects["j"]["e"].std == pytest.approx(
        np.log(
            np.maximum(
                jets["e"].to_numpy(float) - jets["pt"].to_numpy(float) * np.cosh(jets["eta"].to_numpy(float)), 1e-3
            )
        ).std(),
        rel=1e-9,
    )
    muons = obj[obj["type"] == "m-"]
    assert scaler.objects["m-"]["pt"].mean == pytest.approx(np.log(muons["pt"] - 15.0).mean(), rel=1e-9)
    again = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again.representation == "detector"
    back = again.inverse_objects(again.transform_objects(obj))
    for f in ("e", "pt", "eta", "phi"):
        np.testing.assert_allclose(back[f], obj[f], rtol=2e-5, atol=2e-5)


def test_detector_representation_keeps_any_decoder_output_inside_the_cuts():
    """Wild standardised values (what an undertrained decoder emits): with the detector
    representation every object passes its §3.1 cut and has E >= pT; with the thesis's log10 the
    same values put objects outside the cuts (the test can fail)."""
    from lhc_vae.events.selection import object_passes_cuts

    t = make_tables(3000, seed=12)
    obj = _passing_objects(t)
    rng = np.random.default_rng(0)
    wild = obj.copy()
    for f in ("e", "pt", "eta", "phi"):
        wild[f] = rng.normal(0.0, 3.0, len(obj)).astype(np.float32)
    det = FeatureScaler.fit(t.events, obj, "detector").inverse_objects(wild)
    assert object_passes_cuts(det).all()
    assert (det["e"] >= det["pt"]).all()
    mass2 = det["e"].to_numpy(float) ** 2 - (det["pt"].to_numpy(float) * np.cosh(det["eta"].to_numpy(float))) ** 2
    assert (mass2 >= -1e-3 * det["e"].to_numpy(float) ** 2).all()  # E >= |p| up to float32 rounding
    thesis = FeatureScaler.fit(t.events, obj, "thesis").inverse_objects(wild)
    assert (~object_passes_cuts(thesis)).mean() > 0.1
    assert (thesis["e"] < thesis["pt"]).mean() > 0.1


def test_unknown_representation_and_old_scaler_are_refused():
    t = make_tables(200, seed=3)
    with pytest.raises(ValueError, match="representation must be one of"):
        FeatureScaler.fit(t.events, t.objects, "polar")
    old = FeatureScaler.fit(t.events, t.objects).to_dict()
    del old["representation"]
    with pytest.raises(ValueError, match="kedro run --pipeline=preprocessing"):
        FeatureScaler.from_dict(old)


def test_met_frame_round_trip_and_flat_phi():
    """Into the MET frame and back with each event's own MET phi gives the input angles; a decoder
    that always puts its object at phi' = 0 (straight opposite the MET) gives, after the random
    turn, objects exactly back-to-back with the MET and a flat phi distribution."""
    from scipy import stats

    from lhc_vae.events.features import from_met_frame, to_met_frame

    t = make_tables(2000, seed=13)
    framed_events, framed_objects = to_met_frame(t.events, t.objects)
    assert (framed_events["met_phi"] == 0.0).all()
    ev, obj = from_met_frame(framed_events, framed_objects, t.events["met_phi"].to_numpy())
    dphi = np.angle(np.exp(1j * (obj["phi"].to_numpy(float) - t.objects["phi"].to_numpy(float))))
    assert np.abs(dphi).max() < 1e-5
    np.testing.assert_allclose(ev["met_phi"], t.events["met_phi"], atol=1e-12)

    obj = _passing_objects(t)
    scaler = FeatureScaler.fit(t.events, obj, "detector")
    assert scaler.frame == "met"
    constant = scaler.transform_objects(obj.assign(phi=0.0))
    events = scaler.transform_events(t.events.assign(met_phi=0.0))
    out_ev, out_obj = scaler.from_frame(scaler.inverse_events(events), scaler.inverse_objects(constant), seed=1)
    rows = out_obj["event_index"].to_numpy()
    back_to_back = np.abs(np.angle(np.exp(1j * (out_obj["phi"].to_numpy(float) - out_ev["met_phi"].to_numpy()[rows]))))
    np.testing.assert_allclose(back_to_back, np.pi, atol=1e-5)
    assert stats.kstest(out_ev["met_phi"], stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3
    # a decoder in the detector frame with the same constant output puts every object at phi = 0
    thesis = FeatureScaler.fit(t.events, obj, "thesis")
    flat = thesis.inverse_objects(thesis.transform_objects(obj.assign(phi=0.0)))
    assert stats.kstest(flat["phi"], stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue < 1e-6


def test_met_frame_follows_event_index_not_row_order():
    """A shuffled subset of events (event_index no longer the row): each object is turned by its
    own event's MET angle."""
    from lhc_vae.events.features import to_met_frame

    t = make_tables(300, seed=14)
    events = t.events.assign(event_index=np.arange(len(t.events))).sample(frac=0.5, random_state=1)
    objects = t.objects[t.objects["event_index"].isin(events["event_index"])]
    _, framed = to_met_frame(events, objects)
    met_phi = t.events["met_phi"].to_numpy()[framed["event_index"].to_numpy()]
    expected = np.angle(np.exp(1j * (objects["phi"].to_numpy(float) - met_phi - np.pi)))
    np.testing.assert_allclose(framed["phi"].to_numpy(float), expected, atol=1e-5)
