"""One time-per-event definition (thesis eq. 6.7) and the benchmark built on it (issue #11 item 8).

Known answers only, no timed assertions: which start point a timed run goes through (counted
encoder calls), how the benchmark's figures are computed from the timings it reports, and where
its measurements ran.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.schema import primary_tables
from lhc_vae.io import single_chunk
from lhc_vae.mc.simulation import BlockResult
from lhc_vae.models import priors
from lhc_vae.models.experiments import get_experiment
from lhc_vae.models.generation import START_POINTS, multi_model_run, single_model_run, timed, truth_latent
from lhc_vae.models.multi import components
from lhc_vae.models.vae import encode
from lhc_vae.pipelines.benchmark import nodes as bench
from lhc_vae.pipelines.vae.nodes import fit_latent_prior, generate_events

ROOT = Path(__file__).resolve().parents[1]


class CountingModel:
    """A Keras model that records how many rows each ``predict`` call got."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.rows: list[int] = []

    def predict(self, x, **kwargs):
        self.rows.append(len(next(iter(x.values())) if isinstance(x, dict) else x))
        return self.model.predict(x, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


def _model_tables(n: int, seed: int):
    events, objects = primary_tables(make_tables(n, seed=seed))
    events["split"] = np.where(np.arange(n) % 10 < 7, "train", "validation")
    scaler = FeatureScaler.fit(events, objects)
    return scaler, scaler.transform_events(events), scaler.transform_objects(objects)


def test_alpha_vae_time_per_event_runs_the_encoder_on_the_timed_events():
    scaler, mev, mobj = _model_tables(400, seed=3)
    exp = get_experiment("baseline")
    encoder, decoder = CountingModel(exp.encoder(exp.layout, 8)), exp.decoder(exp.layout, 8)
    params = {"experiment": "baseline", "latent_dim": 8}
    prior = fit_latent_prior(encoder, decoder, mev, mobj, "auto", 1, 0, params, 0.2)
    assert prior["kind"] == "truth" and encoder.rows == []  # the prior keeps truth events, it encodes nothing
    n_val = len(prior["inputs"]["met"])
    assert n_val == int((mev["split"] == "validation").sum())

    _, _, tables, stats = single_chunk(
        generate_events(encoder, decoder, prior, scaler.to_dict(), 1500, 0.2, 7, "ttbar", params, {})
    )
    # warm-up, T_1K and the steady call: each starts from as many truth events as it generates
    assert encoder.rows == [1000, 1000, 1500]
    assert tables.n_events == 1500 and not stats["from_noise"]
    assert stats["start_point"] == START_POINTS["truth"] and "encoder" in stats["start_point"]

    # the same draws as perturbing the encodings of all validation events
    z = truth_latent(encoder.model, prior["inputs"], 300, 0.2, seed=5)
    expected, _ = priors.perturb_truth(encode(encoder.model, prior["inputs"])["z_mean"], 300, 0.2, seed=5)
    np.testing.assert_allclose(z, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="encoder"):
        single_model_run(exp.layout, decoder, prior, scaler, "ttbar", 0.2, encoder=None)


def test_beta_vae_time_per_event_starts_from_noise():
    scaler, mev, mobj = _model_tables(300, seed=4)
    exp = get_experiment("exp3")
    encoder, decoder = CountingModel(exp.encoder(exp.layout, 8)), exp.decoder(exp.layout, 8)
    params = {"experiment": "exp3", "latent_dim": 8}
    prior = fit_latent_prior(encoder, decoder, mev, mobj, "auto", 1, 0, params, 0.0)
    _, _, tables, stats = single_chunk(
        generate_events(encoder, decoder, prior, scaler.to_dict(), 1200, 1.5, 7, "ttbar", params, {})
    )
    assert encoder.rows == [] and tables.n_events == 1200
    assert stats["from_noise"] and stats["start_point"] == START_POINTS["normal"]
    assert {"ms_per_event_t1k", "ms_per_event_steady", "warmup_seconds"} <= set(stats)


def test_exp1_time_per_event_encodes_truth_events_inside_the_run():
    scaler, mev, mobj = _model_tables(300, seed=5)
    models = {c.name: {"encoder": CountingModel(c.encoder()), "decoder": c.decoder()} for c in components("exp1", 8)}
    truth = (
        mev[mev["split"] == "validation"],
        mobj[mobj["event_index"].isin(mev.loc[mev["split"] == "validation", "event_index"])],
    )
    run = multi_model_run("exp1", models, scaler, "ttbar", truth=truth, alpha=0.2, threshold=0.1)
    tables, _ = timed(lambda n, s: run(n, s)[0], 1100, seed=2)
    assert models["event"]["encoder"].rows == [1000, 1000, 1100]
    assert tables.n_events == 1100
    with pytest.raises(ValueError, match="truth"):
        multi_model_run("exp1", models, scaler, "ttbar")


def test_matmul_peak_is_a_median_with_its_spread():
    stats = bench.matmul_peak(size=128, repeats=5)
    assert stats["n"] == 5 == len(stats["values_gflops"])
    assert stats["min_gflops"] <= stats["median_gflops"] <= stats["max_gflops"]
    assert stats["median_gflops"] == pytest.approx(float(np.median(stats["values_gflops"])))
    with pytest.raises(ValueError, match="at least 5"):
        bench.matmul_peak(size=128, repeats=3)
    assert bench.matmul_stats([3.0, 1.0, 200.0, 2.0, 4.0], 8)["median_gflops"] == 3.0


def test_benchmark_mc_amortises_pythia_initialisation(monkeypatch):
    calls = []

    def fake_block(args):
        block, block_size, *_ = args
        calls.append(block_size)
        events = pd.DataFrame({"event_id": np.arange(900)})
        return BlockResult(block, events, pd.DataFrame(), block_size, 1.0, 0.1, seconds=10.0, init_seconds=2.0)

    monkeypatch.setattr(bench, "simulate_block", fake_block)
    mc = {"processes": {"ttbar": {"settings": []}}, "detector": {}}
    sample = {"ms_per_accepted_event_per_core": 19.9, "events_accepted": 20000, "block_size": 200, "n_workers": 2}
    out = bench.benchmark_mc("ttbar", 42, mc, {"mc_block_size": 1000, "mc_blocks": 1}, sample)
    assert calls == [1000]  # one block of 1000 tried events
    assert out["events"] == 900 and out["events_tried"] == 1000 and out["init_seconds_per_block"] == 2.0
    assert out["ms_per_event_per_core"] == pytest.approx(1e3 * 8.0 / 900)  # initialisation left out
    assert out["ms_per_event_per_core_with_init"] == pytest.approx(1e3 * 10.0 / 900)
    assert out["ms_per_event_all_cores"] == pytest.approx(out["ms_per_event_per_core"] / out["cores"])
    assert out["sample"]["ms_per_event_per_core"] == 19.9 and out["sample"]["block_size"] == 200
    assert bench.benchmark_mc("ttbar", 42, mc, {"mc_block_size": 1000}, None)["sample"] is None

    # the default run: one Pythia8 instance making >= 1000 events (initialisation amortised)
    defaults = yaml.safe_load((ROOT / "conf" / "base" / "parameters_benchmark.yml").read_text())["benchmark"]
    assert defaults["mc_block_size"] >= 1000 and defaults["mc_blocks"] == 1
    assert defaults["matmul_repeats"] >= 5 and defaults["one_core"] is True


def test_speedups_compare_mc_and_model_on_the_same_cores():
    mc = {"ms_per_event_per_core": 20.0, "ms_per_event_all_cores": 5.0, "sample": {"ms_per_event_per_core": 30.0}}
    model = {
        "ms_per_event_t1k": 0.04,
        "ms_per_event_steady": 0.01,
        "flops_per_event": 2e6,
        "one_core": {"ms_per_event_t1k": 0.1, "ms_per_event_steady": 0.03},
    }
    timings = {
        "cores": 4,
        "models": {"exp3/beta_1p5": model},
        "matmul": {
            "all_cores": bench.matmul_stats([90.0, 100.0, 400.0, 95.0, 110.0], 2048),
            "one_core": bench.matmul_stats([20.0, 25.0, 30.0, 22.0, 28.0], 2048),
        },
    }
    summary, fig = bench.summarise_benchmark(mc, {"events": 1}, timings, "ttbar")
    v = json.loads(json.dumps(summary))["models"]["exp3/beta_1p5"]
    assert v["speedup_1core"] == pytest.approx(20.0 / 0.03)
    assert v["speedup_all_cores"] == pytest.approx(5.0 / 0.01)
    assert v["speedup_t1k_1core"] == pytest.approx(20.0 / 0.1) and v["speedup_t1k_all_cores"] == pytest.approx(
        5.0 / 0.04
    )
    # the ratio of the two speed-ups is the ratio of the timings the JSON reports
    ratio = (summary["mc"]["ms_per_event_per_core"] / summary["mc"]["ms_per_event_all_cores"]) * (
        v["ms_per_event_steady"] / v["one_core"]["ms_per_event_steady"]
    )
    assert v["speedup_1core"] / v["speedup_all_cores"] == pytest.approx(ratio)
    # roofline shares on the median peak of the same setting, not on one measurement
    assert summary["matmul_gflops"] == 100.0
    assert v["achieved_gflops"] == pytest.approx(2e6 / 1e-5 / 1e9)
    assert v["roofline_percent"] == pytest.approx(100.0 * v["achieved_gflops"] / 100.0)
    assert v["one_core"]["roofline_percent"] == pytest.approx(100.0 * (2e6 / 3e-5 / 1e9) / 25.0)
    assert "speedup_1core" in summary["note"] and "speedup_all_cores" in summary["note"]
    assert fig is not None


def test_one_core_measurements_run_pinned_to_one_cpu_with_one_thread():
    cores, child = bench.on_one_core(bench.available_cores)
    assert cores == 1 and child["cpus"] == 1
    assert child["intra_op_threads"] == 1 and child["inter_op_threads"] == 1


@pytest.mark.slow
def test_benchmark_models_times_each_model_from_its_start_point_on_one_and_all_cores():
    from lhc_vae.pipelines.vae.nodes import fit_latent_prior

    scaler, mev, mobj = _model_tables(300, seed=6)
    specs = []
    for name, variator, value in (("exp3", "beta", 1.5), ("baseline", "alpha", 0.2)):
        exp = get_experiment(name)
        encoder, decoder = exp.encoder(exp.layout, 8), exp.decoder(exp.layout, 8)
        settings = {"experiment": name, "latent_dim": 8, "likelihood_noise": True}
        prior = fit_latent_prior(
            encoder, decoder, mev, mobj, "auto", 1, 0, settings, value if variator == "alpha" else 0.0
        )
        # the decoder is calibrated where generation starts from truth events (the alpha-VAE) only
        assert ("likelihood_offset" in prior) == (variator == "alpha") and "likelihood_sigma" in prior
        training = {"experiment": name, "variator": variator, "alpha": None, "beta": None, variator: value}
        specs.append(bench.single_model(encoder, decoder, prior, training))  # as the benchmark's nodes build them
    params = {"large_batch": 2000, "one_core": True, "matmul_repeats": 5}
    out = bench.benchmark_models(scaler.to_dict(), mev, mobj, "ttbar", params, {"mask_threshold": 0.1}, *specs)
    assert set(out["models"]) == {"exp3/beta_1p5", "baseline/alpha_0p2"}
    assert out["models"]["baseline/alpha_0p2"]["start_point"] == START_POINTS["truth"]
    assert out["models"]["exp3/beta_1p5"]["start_point"] == START_POINTS["normal"]
    for v in out["models"].values():
        assert set(bench.TIMING_KEYS) <= set(v["one_core"]) and v["n_large"] == 2000
    assert out["one_core_process"]["cpus"] == 1
    assert out["matmul"]["one_core"]["n"] == out["matmul"]["all_cores"]["n"] == 5
    # the alpha-VAE's FLOPs count its encoder: it runs in the timed chain
    base = get_experiment("baseline")
    assert out["models"]["baseline/alpha_0p2"]["flops_per_event"] == pytest.approx(
        bench.dense_flops(base.encoder(base.layout, 8)) + bench.dense_flops(base.decoder(base.layout, 8))
    )
