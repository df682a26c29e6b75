"""Experiments I and II: alias sampler, two-level mask generator, thermometer masks, generation (issue #6)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.events.schema import SYMBOL_SLUG, SYMBOLS
from lhc_vae.models.mask_generator import AliasTable, TwoLevelMaskGenerator
from lhc_vae.models.multi import cap_objects, components, generate_exp2, thermometer, thermometer_counts
from lhc_vae.models.vae import decode


def test_alias_table_reproduces_frequencies():
    weights = np.array([500.0, 300.0, 150.0, 49.0, 1.0])  # the last one appears once
    table = AliasTable.build(weights)
    np.testing.assert_allclose(table.probabilities(), weights / weights.sum(), rtol=1e-12)
    draws = table.sample(2_000_000, np.random.default_rng(123))
    observed = np.bincount(draws, minlength=5)
    expected = weights / weights.sum() * len(draws)
    assert stats.chisquare(observed, expected).pvalue > 0.001
    assert observed[-1] > 0
    with pytest.raises(ValueError):
        AliasTable.build(np.array([0.0, 0.0]))


def test_two_level_mask_generator():
    rng = np.random.default_rng(0)
    common = np.array([[4, 2, 0, 0, 0, 0, 0], [3, 2, 0, 0, 0, 0, 0], [5, 1, 1, 0, 0, 0, 0]])
    rare = rng.integers(0, 3, size=(60, 7))
    counts = np.concatenate([np.repeat(common, [500, 300, 120], axis=0), rare, [[9, 0, 0, 0, 0, 0, 1]]])
    gen = TwoLevelMaskGenerator.fit(counts, 0.85)
    assert 0.85 <= gen.level_one_mass < 0.85 + gen.frequencies[gen.n_frequent - 1] / gen.frequencies.sum()
    assert gen.n_frequent == 3
    draws = gen.sample(400_000, seed=5)
    keys_truth = pd.Series(["".join(map(str, r)) for r in counts]).value_counts(normalize=True)
    keys_gen = pd.Series(["".join(map(str, r)) for r in draws]).value_counts(normalize=True)
    np.testing.assert_allclose(keys_gen.reindex(keys_truth.index[:3]), keys_truth.iloc[:3], atol=0.004)
    assert keys_gen.get("9000001", 0.0) > 0  # a mask seen once is still generated
    level_one = set(keys_truth.index[:3])
    assert np.mean([k in level_one for k in pd.Series(["".join(map(str, r)) for r in draws])]) == pytest.approx(
        gen.level_one_mass, abs=0.003
    )
    again = TwoLevelMaskGenerator.from_dict(json.loads(json.dumps(gen.to_dict())))
    np.testing.assert_array_equal(again.sample(1000, seed=1), gen.sample(1000, seed=1))


def test_thermometer_round_trip_and_cap():
    counts = np.array([[2, 2, 0, 0, 0, 0, 1], [4, 0, 1, 0, 3, 0, 0]])
    bits = thermometer(counts)
    assert bits.shape == (2, 28)
    assert "".join(str(int(b)) for b in bits[0]) == "1100110000000000000000001000"
    np.testing.assert_array_equal(thermometer_counts(bits * 0.9 + 0.05, threshold=0.1), counts)
    np.testing.assert_array_equal(
        thermometer_counts(thermometer(np.array([[6, 0, 0, 0, 0, 0, 0]])), 0.5), [[4, 0, 0, 0, 0, 0, 0]]
    )
    capped = cap_objects(np.array([[12, 5, 3, 0, 0, 0, 2]]))
    assert capped.sum() == 19 and capped.tolist() == [[12, 5, 2, 0, 0, 0, 0]]


def dense(i: int, o: int) -> int:
    return i * o + o


def test_component_parameter_counts_follow_the_thesis():
    exp2 = {c.name: c for c in components("exp2", 32)}
    met_enc, met_dec = exp2["met"].encoder(), exp2["met"].decoder()
    assert met_enc.count_params() == dense(2, 128) + dense(128, 128) + dense(128, 64) + dense(64, 64) + dense(
        64, 32
    ) + 2 * dense(32, 32)
    assert met_dec.count_params() == dense(32, 64) + dense(64, 64) + dense(64, 64) + dense(64, 2)
    jet_enc, jet_dec = exp2["j"].encoder(), exp2["j"].decoder()  # doubled units, latent 64
    assert jet_enc.count_params() == dense(4, 256) + dense(256, 256) + dense(256, 128) + dense(128, 128) + dense(
        128, 64
    ) + 2 * dense(64, 64)
    assert jet_dec.count_params() == dense(64, 128) + 2 * dense(128, 128) + dense(128, 4)
    exp1 = {c.name: c for c in components("exp1", 160)}
    ev_enc, ev_dec = exp1["event"].encoder(), exp1["event"].decoder()
    branches = dense(2, 512) + dense(512, 512) + dense(28, 512) + dense(512, 512)
    assert ev_enc.count_params() == branches + dense(1024, 512) + dense(512, 512) + dense(512, 320) + 4 * 320 + dense(
        320, 160
    )
    assert ev_dec.count_params() == dense(160, 512) + dense(512, 512) + dense(512, 256) + dense(256, 2) + dense(
        512, 512
    ) + dense(512, 28)
    assert len(exp1) == len(exp2) == 8 and {SYMBOL_SLUG[s] for s in SYMBOLS} < set(exp1)


def test_exp2_generation_has_exactly_the_drawn_multiplicities():
    models = {c.name: {"decoder": c.decoder()} for c in components("exp2", 8)}
    masks = np.array([[4, 2, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 1, 0], [7, 1, 0, 1, 0, 0, 2], [0, 0, 0, 0, 0, 0, 0]])
    events, objects = generate_exp2(models, masks, 8, seed=3, decode=decode)
    assert len(events) == 4
    got = objects.groupby(["event_index", "type"], observed=False).size().unstack().reindex(range(4), fill_value=0)
    np.testing.assert_array_equal(got[list(SYMBOLS)].to_numpy(), masks)


@pytest.mark.slow
def test_exp1_generation_from_truth_is_batched_and_bounded():
    from lhc_vae.events.features import FeatureScaler
    from lhc_vae.events.schema import primary_tables
    from lhc_vae.models.multi import generate_exp1
    from lhc_vae.models.vae import encode

    events, objects = primary_tables(make_tables(300, seed=2))
    scaler = FeatureScaler.fit(events, objects)
    mev, mobj = scaler.transform_events(events), scaler.transform_objects(objects)
    models = {c.name: {"encoder": c.encoder(), "decoder": c.decoder()} for c in components("exp1", 8)}
    ev, obj, counts = generate_exp1(
        models, mev, mobj, 500, alpha=0.2, threshold=0.1, seed=4, encode=encode, decode=decode
    )
    assert len(ev) == 500 and counts.shape == (500, 7)
    assert counts.sum(axis=1).max() <= 19 and (counts <= 4).all()
    got = obj.groupby(["event_index", "type"], observed=False).size().unstack().reindex(range(500), fill_value=0)
    np.testing.assert_array_equal(got[list(SYMBOLS)].to_numpy(), counts)
    _ev2, obj2, _ = generate_exp1(
        models, mev, mobj, 500, alpha=0.2, threshold=0.1, seed=4, encode=encode, decode=decode
    )
    pd.testing.assert_frame_equal(obj, obj2)


def test_dense_flops_by_hand():
    from lhc_vae.pipelines.benchmark.nodes import dense_flops

    exp2 = {c.name: c for c in components("exp2", 32)}
    assert dense_flops(exp2["met"].decoder()) == 2 * (32 * 64 + 64 * 64 + 64 * 64 + 64 * 2)


def _pass_through(model, inputs):
    """A stand-in encoder: the latent point is the inputs side by side (see _identity_decode)."""
    return {"z_mean": np.concatenate([inputs[k] for k in sorted(inputs)], axis=1).astype(np.float32)}


def _identity_decode(width: int):
    """The matching decoder: splits the latent point back into the component's outputs."""

    def decode(model, z):
        if model == "event":  # sorted keys: mask (7 * width), met (2)
            return {"mask": z[:, : 7 * width], "met": z[:, 7 * width :]}
        return {"features": z[:, :4]}  # sorted keys: features (4), met (2), position (width)

    return decode


@pytest.mark.parametrize("width", [4, 19])
def test_exp1_keeps_the_truth_events_own_objects(width):
    """With models that reproduce their input and alpha = 0, experiment I returns each picked truth
    event unchanged: its MET and its own objects (the first ``width`` of each type), not random ones.
    With the thesis's width 4 an event keeps at most four jets; with 19 it keeps all of them."""
    from lhc_vae.events.features import FeatureScaler
    from lhc_vae.events.schema import primary_tables
    from lhc_vae.models.multi import generate_exp1

    events, objects = primary_tables(make_tables(400, seed=3))
    scaler = FeatureScaler.fit(events, objects)
    mev, mobj = scaler.transform_events(events), scaler.transform_objects(objects)
    models = {name: {"encoder": name, "decoder": name} for name in ["event", *SYMBOL_SLUG.values()]}
    ev, obj, counts = generate_exp1(
        models, mev, mobj, 300, 0.0, 0.5, 9, _pass_through, _identity_decode(width), width=width
    )
    rows = np.random.default_rng(9).integers(0, 400, size=300)  # the events generate_exp1 picks
    np.testing.assert_allclose(ev["met"].to_numpy(), mev["met"].to_numpy()[rows], rtol=1e-6)
    truth_jets = mev["n_j"].to_numpy()[rows]
    assert truth_jets.max() >= 6  # the sample has events with more than four jets
    np.testing.assert_array_equal(counts[:, 0], np.minimum(truth_jets, width))
    own = mobj[mobj["position"] < width]
    for i in (0, 7, 123, 299, *np.flatnonzero(truth_jets >= 6)[:3]):
        want = (
            own[own["event_index"] == rows[i]].sort_values(["type", "position"])[["e", "pt", "eta", "phi"]].to_numpy()
        )
        got = obj[obj["event_index"] == i]
        got = (
            got.assign(rank=got.groupby("type", observed=True).cumcount())
            .sort_values(["type", "rank"])[["e", "pt", "eta", "phi"]]
            .to_numpy()
        )
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_exp1_components_take_their_mask_width():
    """Width 19: the event mask has 7 x 19 entries, and the jet component's rows are every jet
    (the thesis's width 4 keeps only the first four of each event)."""
    from lhc_vae.events.features import FeatureScaler
    from lhc_vae.events.schema import primary_tables
    from lhc_vae.models.multi import component_arrays, mask_width_of

    events, objects = primary_tables(make_tables(400, seed=3))
    scaler = FeatureScaler.fit(events, objects)
    mev, mobj = scaler.transform_events(events), scaler.transform_objects(objects)
    n_jets = mev["n_j"].to_numpy()
    for width, jets in ((4, np.minimum(n_jets, 4).sum()), (19, n_jets.sum())):
        comps = {c.name: c for c in components("exp1", 8, width)}
        assert comps["event"].input_dims["mask"] == 7 * width and comps["j"].input_dims["position"] == width
        ev = component_arrays("exp1", comps["event"], mev, mobj)
        np.testing.assert_array_equal(thermometer_counts(ev["mask"], 0.5, width)[:, 0], np.minimum(n_jets, width))
        jet = component_arrays("exp1", comps["j"], mev, mobj)
        assert len(jet["features"]) == jets and jet["position"].shape == (jets, width)
        # the position mask of a jet counts its rank: 1 entry for the leading jet, 6 for the sixth
        ranks = thermometer_counts(jet["position"], 0.5, width)[:, 0]
        positions = mobj.loc[(mobj["type"] == "j").to_numpy(), "position"].to_numpy()
        np.testing.assert_array_equal(ranks, positions[positions < width] + 1)
        assert ranks.max() == min(n_jets.max(), width)
        # trained models carry their width: generation reads it back from the event decoder
        models = {c.name: {"decoder": c.decoder()} for c in comps.values() if c.name == "event"}
        assert mask_width_of(models) == width
    with pytest.raises(ValueError, match="mask_width"):
        components("exp1", 8, 20)


def test_exp2_masks_are_capped_at_19_objects():
    from lhc_vae.models.multi import generate_exp2

    masks = np.array([[12, 5, 3, 2, 2, 0, 1], [3, 1, 0, 0, 0, 0, 0]])  # 25 and 4 objects
    models = {name: {"decoder": name} for name in ["met", *SYMBOL_SLUG.values()]}

    def decode(model, z):
        return {"met": z[:, :2]} if model == "met" else {"features": z[:, :4]}

    _, obj = generate_exp2(models, masks, 4, seed=1, decode=decode)
    got = obj.groupby(["event_index", "type"], observed=False).size().unstack()[list(SYMBOLS)].to_numpy()
    np.testing.assert_array_equal(got, [[12, 5, 2, 0, 0, 0, 0], [3, 1, 0, 0, 0, 0, 0]])  # last types dropped first


def test_exp2_leading_models_learn_and_make_the_first_object_of_their_type():
    """With leading_models, j_lead learns exactly the leading jet of each event and j the others;
    in generation each event's first jet and first b-jet come from the leading models, the others
    from the type's model, and the multiplicities are those of the masks."""
    from lhc_vae.events.features import FeatureScaler
    from lhc_vae.events.schema import primary_tables
    from lhc_vae.models.multi import component_arrays, models_in_use

    events, objects = primary_tables(make_tables(300, seed=5))
    scaler = FeatureScaler.fit(events, objects)
    mev, mobj = scaler.transform_events(events), scaler.transform_objects(objects)
    comps = {c.name: c for c in components("exp2", 8, leading_models=True)}
    assert set(comps) == {"met", *SYMBOL_SLUG.values(), "j_lead", "b_lead"}
    assert len(components("exp2", 8)) == 8  # the thesis's one model per type
    jets = mobj[(mobj["type"] == "j").to_numpy()]
    lead = component_arrays("exp2", comps["j_lead"], mev, mobj)["features"]
    rest = component_arrays("exp2", comps["j"], mev, mobj)["features"]
    cols = ["e", "pt", "eta", "phi"]
    np.testing.assert_array_equal(lead, jets[jets["position"] == 0][cols].to_numpy(np.float32))
    np.testing.assert_array_equal(rest, jets[jets["position"] > 0][cols].to_numpy(np.float32))
    assert len(lead) == (mev["n_j"] > 0).sum() and len(lead) + len(rest) == len(jets)

    def stamp(name, value, used=True):  # a decoder whose objects all carry `value` as their first feature
        return {"decoder": value, "training": {"component": name, "used": used}}

    slugs = list(SYMBOL_SLUG.values())
    trained = [stamp("met", -1.0), *(stamp(s, float(k)) for k, s in enumerate(slugs))]
    models = models_in_use((*trained, stamp("j_lead", 100.0), stamp("b_lead", 101.0)))

    def decode(model, z):
        return {"met": z[:, :2]} if model == -1.0 else {"features": np.full((len(z), 4), model, np.float32)}

    masks = np.array([[4, 2, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0], [0, 3, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]])
    _, obj = generate_exp2(models, masks, 4, seed=2, decode=decode)
    source = obj.groupby(["event_index", "e"]).size().to_dict()
    assert source == {(0, 0.0): 3, (0, 100.0): 1, (0, 1.0): 1, (0, 101.0): 1, (1, 100.0): 1, (1, 2.0): 1,
                      (2, 101.0): 1, (2, 1.0): 2, (2, 6.0): 1}  # fmt: skip
    # a leading model left unused by the parameters is not used in generation
    in_use = models_in_use((*trained, stamp("j_lead", 100.0, used=False), stamp("b_lead", 101.0)))
    assert "j_lead" not in in_use and "b_lead" in in_use
    _, obj = generate_exp2(in_use, masks, 4, seed=2, decode=decode)
    assert obj.groupby(["event_index", "e"]).size().to_dict()[(0, 0.0)] == 4


def test_exp2_without_leading_models_leaves_their_nodes_untrained():
    """exp2.leading_models false (the thesis's exp II): the j_lead node of the static DAG trains
    nothing and is left out of generation; j is trained on every jet."""
    from lhc_vae.models.multi import models_in_use
    from lhc_vae.pipelines.multi.nodes import _components, summarise_training, train_component

    params = {"experiment": "exp2", "latent_dim": 8, "leading_models": False}
    out = train_component(None, None, 0.0, 0.5, 1, "ttbar", params, component="j_lead")
    assert out["training"]["used"] is False and out["training"]["optimizer_steps"] == 0
    assert models_in_use((out,)) == {}
    met = {"component": "met", "experiment": "exp2", "variator": "beta", "alpha": None, "beta": 0.5}
    met |= {"n_train": 10, "training_seconds": 2.0, "optimizer_steps": 3, "history": {"loss": [1.0]}}
    summary, _ = summarise_training(out, {"training": met})  # the unused record first
    assert summary["beta"] == 0.5 and summary["optimizer_steps"] == 3 and not summary["components"]["j_lead"]["used"]
    assert {c.name: c.rank for c in _components(params)}["j"] == "all"
    # generation builds the components as the models were trained, whatever the parameters say
    from lhc_vae.models.multi import components_of, leading_types_of

    trained = {name: {} for name in ("met", *SYMBOL_SLUG.values())}
    assert {c.name: c.rank for c in components_of("exp2", trained, 8)}["j"] == "all"
    assert {c.name: c.rank for c in components_of("exp2", {**trained, "j_lead": {}, "b_lead": {}}, 8)}["j"] == "others"
    assert leading_types_of({**trained, "b_lead": {}}) == ("b",) and leading_types_of(trained) == ()
    assert {c.name: c.rank for c in _components({**params, "leading_models": True})}["j"] == "others"


def test_independent_draws_give_the_design_floor_of_exp2():
    """Every event has a 100 GeV jet and a 30 GeV jet (all valid, IER 0). Drawn independently per
    type, an event gets two soft jets with probability 1/4 and fails the trigger (no jet above
    60 GeV): IER 25 %. With the leading jet drawn from the leading jets, none fails."""
    from lhc_vae.events.schema import TYPE_DTYPE
    from lhc_vae.events.selection import invalid_event_rate
    from lhc_vae.models.multi import independent_objects

    n = 4000
    objects = pd.DataFrame(
        {
            "event_index": np.repeat(np.arange(n), 3),
            "type": pd.Categorical(["j", "j", "m-"] * n, dtype=TYPE_DTYPE),
            "position": np.tile([0, 1, 0], n),
            "e": np.tile([150.0, 40.0, 18.0], n),
            "pt": np.tile([100.0, 30.0, 17.0], n),  # a soft muon: valid, never a trigger
            "eta": 0.5,
            "phi": np.linspace(-3, 3, 3 * n),
        }
    )
    assert invalid_event_rate(objects, n) == 0.0
    drawn = independent_objects(objects, seed=3)
    assert invalid_event_rate(drawn, n) == pytest.approx(25.0, abs=2.0)  # binomial sd 0.7 %
    # a permutation within each type: the same jets and muons, the same multiplicities, energies follow their pT
    muon = (objects["type"] == "m-").to_numpy()
    assert (drawn.loc[muon, "pt"] == 17.0).all() and np.isin(drawn.loc[~muon, "pt"], [100.0, 30.0]).all()
    assert (drawn.loc[~muon, "pt"] == 100.0).sum() == n
    np.testing.assert_array_equal(drawn["event_index"], objects["event_index"])
    assert ((drawn["pt"] == 100.0) == (drawn["e"] == 150.0)).all()
    assert invalid_event_rate(independent_objects(objects, seed=3, leading_types=("j",)), n) == 0.0
