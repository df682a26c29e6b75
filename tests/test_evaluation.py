"""Evaluation metrics against known answers, and a distortion ladder on real events (issue #11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lhc_vae.evaluation import metrics as m
from lhc_vae.evaluation.classifier import classifier_auc
from lhc_vae.evaluation.evaluate import Sample, binning, compare, separation
from lhc_vae.evaluation.features import full_event_columns, full_event_matrix
from lhc_vae.events.darkmachines import read_darkmachines
from lhc_vae.events.schema import COUNT_COLUMNS, TYPE_DTYPE, EventTables, primary_tables
from lhc_vae.events.split import take_events

REAL_FILES = Path(__file__).resolve().parents[2] / "shared" / "data" / "darkmachines_chan1"


@pytest.mark.parametrize("mu", [0.1, 0.5, 1.0])
def test_w1_of_unit_gaussians_equals_the_shift(mu):
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 400_000), rng.normal(mu, 1, 400_000)
    d = m.histogram_distances(a, b)
    assert d.w1_sample == pytest.approx(mu, abs=0.01)
    # binned at the centres: exact up to the bin width (6.2 sigma / 50) and the mass beyond the
    # truth's 99.9 % quantile, which the overflow bin holds half a bin outside the range (1.8 % at mu = 1)
    assert d.w1_binned == pytest.approx(mu, abs=0.03)


def test_js_is_zero_for_identical_and_one_for_disjoint_samples():
    x = np.random.default_rng(0).normal(size=5000)
    same = m.histogram_distances(x, x)
    assert same.js == 0 and same.kl == pytest.approx(0, abs=1e-12) and same.w1_sample == 0 and same.w1_binned == 0
    u = np.random.default_rng(1).uniform(0, 1, 5000)
    disjoint = m.histogram_distances(u, u + 100.0, np.linspace(0, 1, 51))  # every generated value in the overflow bin
    assert disjoint.js == pytest.approx(1.0)
    # all truth mass (1/50 per bin) where generated has only the eps-smoothing: sum p ln(p / eps)
    assert disjoint.kl == pytest.approx(np.log(0.02 / m.KL_EPSILON), rel=1e-3) and disjoint.kl < m.WORST["kl"]


def test_wd_thesis_is_blind_to_a_mirror_and_the_ranking_metrics_are_not():
    """The thesis's WD compares sorted bin heights: a mirrored (skewed) sample scores 0."""
    x = np.random.default_rng(2).exponential(size=50_000)
    edges = m.truth_edges(x)
    mirrored = edges[0] + edges[-1] - x
    d = m.histogram_distances(x, mirrored, edges)
    assert d.wd_thesis == pytest.approx(0.0, abs=1e-12)
    assert d.js > 0.5 and d.w1_sample > 0.8 and d.w1_binned > 0.8


def test_outliers_always_cost():
    """Edges come from the truth only: 1 % wild values added to a shifted sample raise every metric
    (with edges widened to the generated sample, JS and KL went down)."""
    rng = np.random.default_rng(3)
    truth, shifted = rng.normal(0, 1, 20_000), rng.normal(0.3, 1, 20_000)
    wild = shifted.copy()
    wild[:200] = rng.uniform(50, 500, 200)
    edges = m.truth_edges(truth)
    clean, dirty = m.histogram_distances(truth, shifted, edges), m.histogram_distances(truth, wild, edges)
    for key in m.RANKING:
        assert getattr(dirty, key) > getattr(clean, key), key


def test_absent_objects_are_a_bin_of_their_own():
    """Leading-lepton pT with the lepton absent in 60 % (truth) vs 70 % (generated) of events and
    the same present values: only the absent bin can see the difference."""
    v = np.random.default_rng(4).exponential(30, 1000) + 10
    truth = np.r_[np.tile(v, 4), np.full(6000, np.nan)]
    generated = np.r_[np.tile(v, 3), np.full(7000, np.nan)]
    d = m.histogram_distances(truth, generated)
    p, q = m.histogram(truth, m.truth_edges(v)), m.histogram(generated, m.truth_edges(v))
    assert (p[0], q[0]) == (pytest.approx(0.6), pytest.approx(0.7))
    assert d.js > 0.05 and d.w1_binned > 0.05 and d.kl > 0.01
    assert d.wd_thesis == pytest.approx(0.0, abs=1e-15)  # the thesis's WD sees present values only
    assert m.histogram_distances(np.tile(v, 4), np.tile(v, 3)).js == 0.0


def test_eq_6_5_weighting_by_hand_and_missing_groups_refused():
    values = {"event": 0.1, "jet1": 0.2, "lepton1": 0.4}
    weights = {"event": 1000, "jet1": 990, "lepton1": 300}
    assert m.weighted_combination(values, weights) == pytest.approx((100 + 198 + 120) / 2290)
    with pytest.raises(ValueError, match="photon1"):
        m.weighted_combination({"event": 0.1, "photon1": float("nan")}, {"event": 10, "photon1": 5})


def _tables(
    rows: list[tuple[int, str, float, float, float, float]], met: list[float]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    objects = pd.DataFrame(rows, columns=["event_index", "type", "e", "pt", "eta", "phi"])
    objects["type"] = objects["type"].astype(TYPE_DTYPE)
    events = pd.DataFrame({"met": met, "met_phi": [0.5] * len(met)})
    return primary_tables(EventTables(events, objects))


def test_full_event_matrix_orders_every_object_by_pt_across_types():
    events, objects = _tables(
        [
            (0, "j", 120.0, 100.0, 0.5, 1.0),
            (0, "e-", 60.0, 50.0, -1.0, -2.0),
            (0, "b", 400.0, 200.0, 2.0, 3.0),
            (1, "g", 20.0, 10.0, 0.0, 0.0),
        ],
        met=[1000.0, 10.0],
    )
    x = full_event_matrix(events, objects, max_objects=3)
    cols = full_event_columns(3)
    row0 = dict(zip(cols, x[0], strict=True))
    assert [row0["obj0_type"], row0["obj1_type"], row0["obj2_type"]] == [1, 0, 2]  # b (200), j (100), e- (50)
    assert (
        row0["obj0_log10_pt"] == pytest.approx(np.log10(200))
        and row0["obj2_eta"] == -1.0
        and row0["obj1_log10_e"] == pytest.approx(np.log10(120))
    )
    assert row0["log10_met"] == pytest.approx(3.0) and row0["met_phi"] == 0.5
    assert x[1, 0] == 6 and np.isnan(x[1, 5:15]).all()  # one photon, then nothing


def test_classifier_auc_half_when_indistinguishable_and_one_when_separable():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6000, 4))
    same = classifier_auc(x[:3000], x[3000:], seed=0)
    assert abs(same.auc - 0.5) < 3 * same.error + 0.01 and len(same.folds) == 5
    assert classifier_auc(x[:3000], x[3000:] + 5.0, seed=0).auc > 0.99
    # an object type drawn with other frequencies: the best possible AUC orders the codes by their
    # likelihood ratio (2: 0.4, 1: 1, 0: 2.5 here, not the codes' order): sum_{i<j} t_i g_j + ties / 2
    t, g = np.array([0.2, 0.3, 0.5]), np.array([0.5, 0.3, 0.2])
    order = np.argsort(g / t)
    best = sum(t[order[i]] * g[order[j]] for i in range(3) for j in range(i + 1, 3)) + 0.5 * (t * g).sum()
    assert best == pytest.approx(0.695)
    types_a, types_b = rng.choice(3, 20_000, p=t), rng.choice(3, 20_000, p=g)
    noise = rng.normal(size=(40_000, 4))
    cat = classifier_auc(
        np.c_[types_a, noise[:20_000]],
        np.c_[types_b, noise[20_000:]],
        seed=0,
        categorical=np.array([True, False, False, False, False]),
    )
    assert cat.auc == pytest.approx(best, abs=3 * cat.error + 0.005)


def test_separation_in_combined_sigmas():
    a = {"js": 0.30, "js_err": 0.03}
    b = {"js": 0.26, "js_err": 0.04}
    assert separation(a, b, "js") == pytest.approx(0.8)


# ---------------------------------------------------------------------------------------------
# Distortion ladder on real events: the six Dark Machines challenge files, 22.6k events, split in
# two halves A and B. The floor compares A with B; each rung compares A with a distorted B.


@pytest.fixture(scope="module")
def real_halves():
    files = sorted(REAL_FILES.glob("*.csv"))
    if len(files) != 6:
        pytest.fail(f"the six real Dark Machines files are expected in {REAL_FILES} (../shared beside the checkout)")
    events, objects, offset = [], [], 0
    for f in files:
        t = read_darkmachines(f).tables
        events.append(t.events)
        objects.append(t.objects.assign(event_index=t.objects["event_index"] + offset))
        offset += t.n_events
    ev, ob = primary_tables(EventTables(pd.concat(events, ignore_index=True), pd.concat(objects, ignore_index=True)))
    perm = np.random.default_rng(0).permutation(len(ev))
    half = len(ev) // 2

    # in the permuted order: any head() of a half is a random subsample
    a, b = take_events(ev, ob, perm[:half]), take_events(ev, ob, perm[half : 2 * half])
    truth = Sample.from_tables(*a)
    return truth, binning(truth), b


def _with_counts(events: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    counts = (
        objects.groupby(["event_index", "type"], observed=False)
        .size()
        .unstack()
        .reindex(range(len(events)), fill_value=0)
    )
    return events.assign(**{c: counts[s].to_numpy() for s, c in COUNT_COLUMNS.items()})


def _ladder(events, objects, name):
    rng = np.random.default_rng(7)
    order = rng.permutation(len(events))
    if name == "met_shift":  # MET shifted by 0.05, 0.1, 0.3 of its standard deviation
        return [(events.assign(met=events["met"] + k * events["met"].std()), objects) for k in (0.05, 0.1, 0.3)]
    if name == "lepton_drop":  # leptons removed from 10 %, 30 % of the events
        lep = objects["type"].astype(str).isin(["e-", "e+", "m-", "m+"]).to_numpy()
        rungs = []
        for frac in (0.1, 0.3):
            kept = objects[
                ~(lep & np.isin(objects["event_index"].to_numpy(), order[: int(frac * len(events))]))
            ].reset_index(drop=True)
            rungs.append((_with_counts(events, kept), kept))
        return rungs
    if name == "outliers":  # MET of 1 %, 5 % of the events multiplied by 10
        rungs = []
        for frac in (0.01, 0.05):
            met = events["met"].to_numpy().copy()
            met[order[: int(frac * len(events))]] *= 10
            rungs.append((events.assign(met=met), objects))
        return rungs
    raise ValueError(name)


@pytest.mark.slow
@pytest.mark.parametrize("ladder", ["met_shift", "lepton_drop", "outliers"])
def test_every_ranking_metric_grows_along_a_distortion_ladder(real_halves, ladder):
    """Along each ladder every ranking metric grows, from the floor up; the top rung is beyond the
    floor by more than 2 combined standard deviations (bootstrap / fold errors)."""
    truth, edges, (events, objects) = real_halves
    kw = {"seed": 1, "folds": 3, "physics_distances": False}
    _, floor = compare(truth, Sample.from_tables(events, objects), edges, n_bootstrap=10, **kw)
    distorted = _ladder(events, objects, ladder)
    rungs = [compare(truth, Sample.from_tables(ev, ob), edges, n_bootstrap=0, **kw)[1] for ev, ob in distorted[:-1]]
    rungs.append(compare(truth, Sample.from_tables(*distorted[-1]), edges, n_bootstrap=10, **kw)[1])
    for key in (*m.RANKING, "auc_full"):
        values = [floor[key]] + [r[key] for r in rungs]
        assert all(np.diff(values) > 0), f"{ladder}: {key} = {values}"
        assert separation(rungs[-1], floor, key) > 2, f"{ladder}: {key} top rung within 2 sigma of the floor"
    assert floor["coverage"] == 1.0 and abs(floor["auc_full"] - 0.5) < 3 * floor["auc_full_err"] + 0.01


@pytest.mark.slow
def test_a_group_never_generated_gets_the_worst_values(real_halves):
    """Leptons dropped from every event: their rows get JS 1 and KL/W1 at the cap, coverage falls to
    4/6 of the eq. 6.5 groups, and the combination is far above a partial drop (30 %)."""
    truth, edges, (events, objects) = real_halves
    lep = objects["type"].astype(str).isin(["e-", "e+", "m-", "m+"]).to_numpy()
    kept = objects[~lep].reset_index(drop=True)
    rows, none = compare(
        truth,
        Sample.from_tables(_with_counts(events, kept), kept),
        edges,
        seed=1,
        n_bootstrap=0,
        folds=2,
        physics_distances=False,
    )
    leptons = rows[rows["group"].isin(["lepton1", "lepton2"])]
    assert (
        (leptons["n_generated"] == 0).all()
        and (leptons["js"] == 1.0).all()
        and (leptons["w1_sample"] == m.WORST["w1_sample"]).all()
    )
    assert none["coverage"] == pytest.approx(4 / 6)
    partial = _ladder(events, objects, "lepton_drop")[-1]
    _, some = compare(
        truth, Sample.from_tables(*partial), edges, seed=1, n_bootstrap=0, folds=2, physics_distances=False
    )
    assert some["coverage"] == 1.0 and none["js"] > some["js"] + 0.1 and none["w1_sample"] > some["w1_sample"] + 1.0


@pytest.mark.slow
def test_jet_smearing_is_seen_by_the_full_event_classifier(real_halves):
    """Jet pT and E smeared by 5, 10, 20 %: the leading-object histograms of these broad signal
    spectra barely change (measured: W1 and JS move less than their noise), the full-event AUC
    sees every rung."""
    truth, edges, (events, objects) = real_halves
    jets = objects["type"].astype(str).isin(["j", "b"]).to_numpy()
    noise = np.random.default_rng(8).standard_normal(len(objects))
    aucs = [
        compare(
            truth, Sample.from_tables(events, objects), edges, seed=1, n_bootstrap=0, folds=3, physics_distances=False
        )[1]["auc_full"]
    ]
    for s in (0.05, 0.1, 0.2):
        f = np.where(jets, 1 + s * noise, 1.0)
        aucs.append(
            compare(
                truth,
                Sample.from_tables(events, objects.assign(pt=objects["pt"] * f, e=objects["e"] * f)),
                edges,
                seed=1,
                n_bootstrap=0,
                folds=3,
                physics_distances=False,
            )[1]["auc_full"]
        )
    assert all(np.diff(aucs) > 0), aucs


@pytest.mark.slow
def test_bootstrap_resamples_both_samples(real_halves):
    """The variance of a distance between two samples adds a 1/N term per sample: with the
    generated sample cut to a quarter, the bootstrap error grows by sqrt((1 + 4) / 2) = 1.58 (it
    would be 2 if only the generated side were resampled, 1 if only the truth); both cut to a
    quarter, by 2."""
    truth, edges, (events, objects) = real_halves
    gen = Sample.from_tables(events, objects)
    quarter = len(truth) // 4
    kw = {"seed": 1, "n_bootstrap": 40, "folds": 2, "physics_distances": False}
    _, full = compare(truth, gen, edges, **kw)
    _, one_side = compare(truth, gen.head(quarter), edges, **kw)
    _, both = compare(truth.head(quarter), gen.head(quarter), edges, **kw)
    for key in ("w1_sample", "w1_binned"):
        assert one_side[f"{key}_err"] / full[f"{key}_err"] == pytest.approx(np.sqrt(2.5), rel=0.25), key
        assert both[f"{key}_err"] / full[f"{key}_err"] == pytest.approx(2.0, rel=0.25), key


def test_report_cells_carry_the_value_to_the_precision_of_its_error():
    from lhc_vae.evaluation.report import fmt

    assert fmt(0.152345, 0.00412) == "0.1523 ± 0.0041"
    assert fmt(24.587999999999997) == "24.59"
    assert fmt(np.float32(0.1234567)) == "0.1235" and fmt(4.4) == "4.400"
    assert fmt(1.0, 0.0) == "1.000 ± 0"  # an error of exactly 0 is shown, never hidden
    assert fmt(1.0, 0.25) == "1.00 ± 0.25" and fmt(float("nan")) == "–" and fmt(True) == "yes" and fmt(2000.0) == "2000"


def test_hanley_mcneil_error_at_the_null_is_the_mann_whitney_variance():
    """At AUC 0.5 the Hanley-McNeil variance is the Mann-Whitney null variance (n1 + n2 + 1) / (12 n1 n2)."""
    from lhc_vae.evaluation.classifier import hanley_mcneil_error

    assert hanley_mcneil_error(0.5, 2000, 2000) == pytest.approx(np.sqrt(4001 / (12 * 2000 * 2000)), rel=1e-3)
    assert hanley_mcneil_error(1.0, 2000, 2000) == 0.0  # a perfect separation has no spread
