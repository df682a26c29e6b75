"""VAE core: variators, architectures, layouts, priors, training and generation (issue #5)."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.schema import SYMBOLS, primary_tables
from lhc_vae.models import priors
from lhc_vae.models.architectures import baseline_decoder, baseline_encoder, exp3_decoder, exp3_encoder
from lhc_vae.models.experiments import get_experiment
from lhc_vae.models.generation import generate
from lhc_vae.models.layouts import JetsLayout, WholeEventLayout
from lhc_vae.models.losses import kl_divergence
from lhc_vae.models.vae import assemble, compile_vae, targets, train
from lhc_vae.models.variators import AlphaVariator, BetaVariator
from lhc_vae.tags import resolve_prior


def dense(i: int, o: int) -> int:
    return i * o + o


def test_alpha_variator_noise_has_std_alpha():
    layer = AlphaVariator(0.3, seed=1)
    z = np.zeros((20000, 8), dtype=np.float32)
    noisy = np.asarray(layer(z, training=True))
    assert noisy.std() == pytest.approx(0.3, rel=0.02)
    assert abs(noisy.mean()) < 0.01
    np.testing.assert_array_equal(np.asarray(layer(z + 1.0, training=False)), z + 1.0)


def test_alpha_perturbation_at_generation_matches_the_training_noise():
    # the same N(0, alpha) noise as AlphaVariator's in training, around each encoding
    z = np.tile(np.array([[1.0, -2.0]]), (40000, 1))
    out = priors.alpha_perturbation(z, 0.3, np.random.default_rng(4))
    np.testing.assert_allclose(out.mean(axis=0), [1.0, -2.0], atol=0.005)
    np.testing.assert_allclose(out.std(axis=0), [0.3, 0.3], rtol=0.02)
    assert abs(np.corrcoef(out.T)[0, 1]) < 0.02
    np.testing.assert_array_equal(priors.alpha_perturbation(z, 0.0, np.random.default_rng(4)), z)
    # the generator's next draws, in its own order: the rows a seed gives are reproducible
    rng = np.random.default_rng(4)
    np.testing.assert_array_equal(out, z + 0.3 * np.random.default_rng(4).standard_normal(z.shape))
    priors.alpha_perturbation(z, 0.3, rng)
    np.testing.assert_array_equal(rng.standard_normal(3), np.random.default_rng(4).standard_normal(z.size + 3)[-3:])


def test_kl_divergence_matches_hand_computation():
    mu = np.array([[1.0, 0.0]], dtype=np.float32)
    log_var = np.array([[0.0, np.log(4.0)]], dtype=np.float32)
    # KL = -1/2 sum(1 + log var - mu^2 - var) = -1/2 [(1 + 0 - 1 - 1) + (1 + ln 4 - 0 - 4)]
    expected = -0.5 * ((1 + 0 - 1 - 1) + (1 + np.log(4.0) - 0 - 4))
    assert float(np.asarray(kl_divergence(mu, log_var))[0]) == pytest.approx(expected, rel=1e-6)
    z, kl = BetaVariator(seed=2)(
        np.zeros((20000, 2), np.float32), np.full((20000, 2), np.log(4.0), np.float32), training=True
    )
    assert np.asarray(z).std(axis=0) == pytest.approx([2.0, 2.0], rel=0.03)
    assert np.asarray(kl).mean() == pytest.approx(-0.5 * 2 * (1 + np.log(4.0) - 4), rel=1e-5)


def test_exp3_parameter_counts_follow_the_thesis_layer_sizes():
    layout = JetsLayout()
    enc, dec = exp3_encoder(layout, 128), exp3_decoder(layout, 128)
    met = dense(2, 128) + dense(128, 64)
    particle = dense(4, 256) + dense(256, 128)
    joint_in = 64 + 6 * 128 + 6
    joint = dense(joint_in, 512) + dense(512, 512) + dense(512, 256) + dense(256, 256) + dense(256, 128)
    assert enc.count_params() == met + 6 * particle + joint + 2 * dense(128, 128) == 1_168_960
    trunk = dense(128, 256) + dense(256, 256) + dense(256, 512) + dense(512, 512)
    heads = dense(512, 64) + dense(64, 2) + 6 * (dense(512, 64) + dense(64, 4)) + dense(512, 64) + dense(64, 6)
    assert dec.count_params() == trunk + heads
    assert dec.output["mask"].shape[-1] == 6  # six presence entries (the thesis text says 2)


def test_baseline_parameter_counts_follow_the_thesis_layer_sizes():
    layout = WholeEventLayout(19)
    latent = 160
    enc, dec = baseline_encoder(layout, latent), baseline_decoder(layout, latent)
    branches = sum(dense(n, 512) + dense(512, 512) for n in (2, 19 * 8, 19 * 4))
    # one mean head: an alpha-VAE has no log-variance (thesis §4.2.1)
    joint = dense(3 * 512, 512) + dense(512, 512) + dense(512, 2 * latent) + 4 * 2 * latent + dense(2 * latent, latent)
    assert enc.count_params() == branches + joint
    heads = sum(dense(512, 512) + dense(512, n) for n in (2, 19 * 8, 19 * 4))
    assert dec.count_params() == dense(latent, 512) + dense(512, 512) + heads


def _model_tables(n: int, seed: int):
    tables = make_tables(n, seed=seed)
    events, objects = primary_tables(tables)
    events["split"] = np.where(np.arange(n) % 10 < 8, "train", "validation")
    scaler = FeatureScaler.fit(events, objects)
    return events, objects, scaler, scaler.transform_events(events), scaler.transform_objects(objects)


def test_layouts_round_trip_events():
    events, _objects, _, mev, mobj = _model_tables(400, seed=3)
    for layout in (JetsLayout(), WholeEventLayout(19)):
        ev = mev[layout.select(mev)]
        obj = mobj[mobj["event_index"].isin(ev["event_index"])]
        arrays = layout.to_arrays(ev, obj)
        back_events, back_objects = layout.from_arrays(arrays)
        np.testing.assert_allclose(back_events["met"], ev["met"], rtol=1e-6)
        want = obj.assign(
            event_index=pd.Series(np.arange(len(ev)), index=ev["event_index"]).reindex(obj["event_index"]).to_numpy()
        )
        key = ["event_index", "type", "pt"]
        a = want.sort_values(key).reset_index(drop=True)
        b = back_objects.sort_values(key).reset_index(drop=True)
        assert len(a) == len(b) > 0
        assert a["type"].astype(str).tolist() == b["type"].astype(str).tolist()
        for f in ("e", "pt", "eta", "phi"):
            np.testing.assert_allclose(b[f], a[f], rtol=1e-6, atol=1e-6)
    assert JetsLayout().select(events).sum() < len(events)  # events with leptons/photons are left out


def test_short_training_lowers_the_loss_and_generation_is_reproducible(tmp_path):
    _, _, scaler, mev, mobj = _model_tables(1500, seed=4)
    exp = get_experiment("exp3")
    keras.utils.set_random_seed(0)
    ev = mev[exp.layout.select(mev)]
    arrays = exp.layout.to_arrays(ev, mobj[mobj["event_index"].isin(ev["event_index"])])
    enc, dec = exp.encoder(exp.layout, 16), exp.decoder(exp.layout, 16)
    model = assemble(enc, dec, "beta", seed=0)
    compile_vae(model, exp.losses, beta=1.0, learning_rate=1e-3)
    history, control = train(model, arrays, None, 1.0, {"epochs": 5, "batch_size": 64}, tmp_path / "bk", verbose=0)
    n = len(arrays["met"])
    assert control["stopped_by"] == "max_epochs" and control["optimizer_steps"] == 5 * -(-n // 64)
    assert control["training_events_seen"] == 5 * n
    assert history["loss"][-1] < 0.95 * history["loss"][0]
    assert history["loss"][-1] == min(history["loss"])
    assert not (tmp_path / "bk").exists() or not any((tmp_path / "bk").iterdir())  # backup removed after success

    z = priors.sample_normal(3000, 16, seed=9)
    a, counts_a = generate(dec, z, exp.layout, scaler, "ttbar", 0)
    b, _ = generate(dec, priors.sample_normal(3000, 16, seed=9), exp.layout, scaler, "ttbar", 0)
    pd.testing.assert_frame_equal(a.objects, b.objects)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert list(a.events.columns[:5]) == ["event_id", "process_id", "weight", "met", "met_phi"]
    assert set(a.objects["type"].astype(str)) <= {"j", "b"}
    assert (a.objects["phi"].abs() <= np.pi).all() and (a.events["met_phi"].abs() <= np.pi).all()
    assert (a.objects["e"] >= a.objects["pt"]).all() and (a.objects["pt"] > 0).all()
    assert a.objects.groupby("event_index").size().max() <= 6
    assert set(counts_a) == {"clipped_beyond_10_sigma", "phi_wrapped", "met_phi_wrapped", "e_raised_to_pt"}


def test_bgmm_prior_samples_from_the_fitted_mixture():
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.normal([-3, 0], 0.5, (3000, 2)), rng.normal([3, 0], 0.5, (7000, 2))])
    model = priors.mixture_arrays(priors.fit_bgmm(data, n_components=5, seed=1))
    z = priors.sample_bgmm(model, 20000, seed=2)
    assert z.shape == (20000, 2)
    right = z[:, 0] > 0
    assert right.mean() == pytest.approx(0.7, abs=0.02)
    assert z[right, 0].mean() == pytest.approx(3.0, abs=0.05)
    assert z[~right, 0].mean() == pytest.approx(-3.0, abs=0.05)
    assert z[right, 0].std() == pytest.approx(0.5, rel=0.1)
    np.testing.assert_array_equal(z, priors.sample_bgmm(model, 20000, seed=2))


def test_truth_prior_and_resolution():
    enc = np.arange(20, dtype=float).reshape(10, 2)
    z, rows = priors.perturb_truth(enc, 10, alpha=0.0, seed=1)
    np.testing.assert_array_equal(z, enc[rows])
    assert sorted(rows) == list(range(10))
    assert resolve_prior("auto", "alpha") == "truth" and resolve_prior("auto", "beta") == "normal"
    with pytest.raises(ValueError, match="latent_prior must be one of"):
        resolve_prior("flow", "beta")


def test_wild_decoder_outputs_are_clipped_and_counted():
    from lhc_vae.models.generation import standardised_to_physical

    _, _, scaler, _, _ = _model_tables(200, seed=6)
    events = pd.DataFrame({"met": [0.0, 1e6], "met_phi": [0.0, np.nan]})
    objects = pd.DataFrame(
        {
            "event_index": [0, 1],
            "type": pd.Categorical(["j", "b"], categories=["j", "b", "e-", "e+", "m-", "m+", "g"], ordered=True),
            "e": np.array([300.0, 0.1], np.float32),
            "pt": np.array([0.0, 0.0], np.float32),
            "eta": np.array([0.0, 0.0], np.float32),
            "phi": np.array([0.0, 0.0], np.float32),
        }
    )
    tables, counts = standardised_to_physical(events, objects, scaler, "ttbar", 0)
    assert counts["clipped_beyond_10_sigma"] == 3  # E = 300 sigma, MET = 1e6 sigma, MET phi NaN
    assert np.isfinite(tables.objects[["e", "pt", "eta", "phi"]].to_numpy()).all()
    assert np.isfinite(tables.events[["met", "met_phi"]].to_numpy()).all()


def test_ier_before_corrections_counts_every_event_with_a_corrected_value():
    """Four events: a clean one, one with a clipped energy, one with MET phi out of range (wrapped:
    the same direction, so not a defect) and one whose jet fails the pT cut: IER 25 % after
    corrections, 50 % before (thesis eq. 6.6)."""
    from lhc_vae.models.generation import generated_tables, standardised_to_physical

    _, _, scaler, _, _ = _model_tables(200, seed=6)
    clean = scaler.transform_objects(
        pd.DataFrame(
            {
                "event_index": [0],
                "type": pd.Categorical(["j"], categories=list(SYMBOLS)),
                "e": [120.0],
                "pt": [100.0],
                "eta": [0.1],
                "phi": [0.2],
            }
        )
    )
    soft = scaler.transform_objects(
        pd.DataFrame(
            {
                "event_index": [3],
                "type": pd.Categorical(["j"], categories=list(SYMBOLS)),
                "e": [12.0],
                "pt": [10.0],
                "eta": [0.1],
                "phi": [0.2],
            }
        )
    )
    row = clean.iloc[0]
    objects = pd.DataFrame(
        {
            "event_index": [0, 1, 2, 3],
            "type": pd.Categorical(["j"] * 4, categories=list(SYMBOLS), ordered=True),
            "e": np.array([row["e"], 50.0, row["e"], soft.iloc[0]["e"]], np.float32),  # event 1: E 50 sigma, clipped
            "pt": np.array([row["pt"], row["pt"], row["pt"], soft.iloc[0]["pt"]], np.float32),
            "eta": np.array([row["eta"]] * 4, np.float32),
            "phi": np.array([row["phi"]] * 4, np.float32),
        }
    )
    met = scaler.transform_events(pd.DataFrame({"met": [50.0] * 4, "met_phi": [0.1] * 4}))
    met_phi = met["met_phi"].to_numpy().copy()
    met_phi[2] = scaler.events["met_phi"].forward(np.array([4.0]))[0]  # beyond pi: wrapped
    events = pd.DataFrame({"met": met["met"].to_numpy(), "met_phi": met_phi})
    tables, counts = standardised_to_physical(events, objects, scaler, "ttbar", 0)
    assert list(tables.events["n_corrected"]) == [0, 1, 0, 0] and counts["met_phi_wrapped"] == 1
    _, _, quality = generated_tables(tables)
    assert quality["invalid_event_rate_percent"] == 25.0 and quality["invalid_event_rate_raw_percent"] == 50.0


def test_batch_norm_statistics_are_recalibrated_to_the_training_data():
    """A BatchNormalization layer fed by a fixed linear map of N(3, 2^2) inputs: after
    recalibration its moving mean and variance are the exact statistics of those inputs, so the
    model in inference mode normalises the training data to mean 0 and variance 1."""
    import keras

    from lhc_vae.models.vae import recalibrate_batch_norm

    x = np.random.default_rng(0).normal(3.0, 2.0, size=(5000, 2)).astype(np.float32)
    inp = keras.Input((2,), name="x")
    dense = keras.layers.Dense(
        2, use_bias=False, kernel_initializer=keras.initializers.Constant([[1.0, 0.5], [0.0, 2.0]])
    )
    bn = keras.layers.BatchNormalization(epsilon=1e-6)
    model = keras.Model({"x": inp}, bn(dense(inp)))
    h = x @ np.array([[1.0, 0.5], [0.0, 2.0]], dtype=np.float32)
    assert recalibrate_batch_norm(model, {"x": x}) == 1
    np.testing.assert_allclose(bn.moving_mean.numpy(), h.mean(0), rtol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), h.var(0), rtol=1e-4)
    out = model.predict({"x": x}, verbose=0)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(out.var(0), 1.0, rtol=1e-3)
    # in batches of 777 (the last one short) the merged statistics are the same
    bn.moving_mean.assign(np.zeros(2, dtype=np.float32))
    bn.moving_variance.assign(np.ones(2, dtype=np.float32))
    assert recalibrate_batch_norm(model, {"x": x}, batch_size=777) == 1
    np.testing.assert_allclose(bn.moving_mean.numpy(), h.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), h.var(0), rtol=1e-5)


def test_validation_loss_is_measured_with_the_training_datas_batch_norm_statistics(tmp_path):
    """An autoencoder whose encoder normalises inputs of mean 40 and spread 5 with BatchNormalization,
    trained for 2 epochs of 4 steps: the moving averages (momentum 0.99) are still near their start
    (0, 1), so Keras's validation pass would see inputs 40 standard deviations off. The recorded
    validation loss of each epoch is that of the model with the exact training statistics: the last
    epoch's equals evaluating the final weights after :func:`recalibrate_batch_norm` on the training data."""
    from lhc_vae.models.vae import recalibrate_batch_norm

    rng = np.random.default_rng(3)
    x = rng.normal(40.0, 5.0, size=(512, 3)).astype(np.float32)
    xv = rng.normal(40.0, 5.0, size=(256, 3)).astype(np.float32)
    keras.utils.set_random_seed(2)
    inp = keras.Input((3,), name="x")
    h = keras.layers.BatchNormalization(name="enc_bn")(keras.layers.Dense(8)(inp))
    encoder = keras.Model({"x": inp}, keras.layers.Dense(2)(h), name="encoder")
    z = keras.Input((2,))
    decoder = keras.Model(z, keras.layers.Dense(3)(z), name="decoder")
    x_in = keras.Input((3,), name="x")
    model = keras.Model({"x": x_in}, {"x": decoder(encoder({"x": x_in}))})
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss={"x": "mse"})
    history, _ = train(model, {"x": x}, {"x": xv}, None, {"epochs": 2, "batch_size": 128}, tmp_path / "c", verbose=0)
    assert len(history["val_loss"]) == 2
    recalibrate_batch_norm(encoder, {"x": x})
    again = model.evaluate({"x": xv}, {"x": xv}, batch_size=128, verbose=0, return_dict=True)["loss"]
    assert again == pytest.approx(history["val_loss"][-1], rel=1e-4)


def test_step_budget_and_early_stopping_keep_the_best_weights(tmp_path):
    """A budget of one epoch plus 2 steps stops inside epoch 2 after exactly that many optimizer
    steps, having seen the whole split once plus 2 x 64 events; early stopping on a small training
    set that the model overfits restores the weights of the epoch with the lowest validation loss:
    evaluating the model afterwards gives that loss."""
    _, _, _, mev, mobj = _model_tables(1500, seed=4)
    exp = get_experiment("exp3")
    ev = mev[exp.layout.select(mev)]
    arrays = exp.layout.to_arrays(ev, mobj[mobj["event_index"].isin(ev["event_index"])])
    n = len(arrays["met"])
    per_epoch = -(-n // 64)
    assert n % 64 != 0  # the first epoch ends with a short batch
    keras.utils.set_random_seed(0)
    model = assemble(exp.encoder(exp.layout, 16), exp.decoder(exp.layout, 16), "beta", seed=0)
    compile_vae(model, exp.losses, beta=1.0, learning_rate=1e-3)
    budget = {"epochs": 50, "batch_size": 64, "max_steps": per_epoch + 2}
    _, control = train(model, arrays, None, 1.0, budget, tmp_path / "a", verbose=0)
    assert control["stopped_by"] == "max_steps" and control["optimizer_steps"] == per_epoch + 2
    assert control["training_events_seen"] == n + 2 * 64 and control["epochs"] == 2

    small = {k: v[:120] for k, v in arrays.items()}
    val = {k: v[120:440] for k, v in arrays.items()}
    keras.utils.set_random_seed(1)
    model = assemble(exp.encoder(exp.layout, 16), exp.decoder(exp.layout, 16), "beta", seed=1)
    compile_vae(model, exp.losses, beta=1.0, learning_rate=3e-3)
    settings = {"epochs": 200, "batch_size": 16, "early_stopping": {"patience": 3}}
    history, control = train(model, small, val, 1.0, settings, tmp_path / "b", verbose=0)
    best = int(np.argmin(history["val_loss"]))
    assert control["stopped_by"] == "early_stopping" and control["epochs"] == best + 1 + 3
    assert control["epoch_kept"] == best + 1 and control["best_val_loss"] == min(history["val_loss"])
    again = model.evaluate(val, targets(val, 1.0), batch_size=16, verbose=0, return_dict=True)["loss"]
    assert again == pytest.approx(min(history["val_loss"]), rel=1e-4)
    assert again < history["val_loss"][-1]  # the last epoch's weights would score worse


def test_decoder_likelihood_is_the_residual_offset_and_spread_of_present_objects_and_is_sampled():
    """A decoder that always outputs (1.3, -2): on data N((1, -2), diag(0.5^2, 2^2)) with a third
    of the rows absent (all zeros), the calibrated Gaussian decoder's offset is (0.3, 0) and its
    sigma (0.5, 2) (absent rows ignored); uncalibrated, sigma is the RMS residual. Sampling around
    the corrected constant means gives back the data's mean and spread."""
    from lhc_vae.models.vae import add_likelihood_noise, decoder_likelihood

    x_in = keras.Input((2,), name="met")
    zero = keras.layers.Dense(3, kernel_initializer="zeros", bias_initializer="zeros")
    encoder = keras.Model({"met": x_in}, {"z_mean": zero(x_in)})
    z_in = keras.Input((3,), name="z")
    head = keras.layers.Dense(
        2, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant([1.3, -2.0]), name="met"
    )
    decoder = keras.Model(z_in, {"met": head(z_in)})
    rng = np.random.default_rng(0)
    x = np.array([1.0, -2.0]) + rng.standard_normal((60_000, 2)) * np.array([0.5, 2.0])
    x[::3] = 0.0
    # from noise: no offset, sigma the RMS residual (0.58 = sqrt(0.3^2 + 0.5^2) for the first feature)
    none, rms = decoder_likelihood(encoder, decoder, {"met": x.astype(np.float32)}, ["met"], calibrate=False)
    assert none is None
    np.testing.assert_allclose(rms["met"], [np.hypot(0.3, 0.5), 2.0], rtol=0.02)
    offset, sigma = decoder_likelihood(encoder, decoder, {"met": x.astype(np.float32)}, ["met"], calibrate=True)
    np.testing.assert_allclose(offset["met"]["at"], [[1.3], [-2.0]], atol=1e-6)  # one decoded value: one bin
    np.testing.assert_allclose(offset["met"]["value"], [[0.3], [0.0]], atol=0.02)
    np.testing.assert_allclose(sigma["met"], [0.5, 2.0], rtol=0.02)
    means = {"met": np.tile(np.array([[1.3, -2.0]], np.float32), (50_000, 1))}
    sampled = add_likelihood_noise(means, sigma, np.random.default_rng(1), offset)["met"]
    np.testing.assert_allclose(sampled.std(axis=0), [0.5, 2.0], rtol=0.02)
    np.testing.assert_allclose(sampled.mean(axis=0), [1.0, -2.0], atol=0.03)
    # a prior stored before offsets were measured: sigma only, around the decoder's own means
    np.testing.assert_allclose(
        add_likelihood_noise(means, sigma, np.random.default_rng(1))["met"].mean(axis=0), [1.3, -2.0], atol=0.03
    )
    assert add_likelihood_noise(means, None, np.random.default_rng(1)) is means


def test_decoder_offset_depends_on_the_decoded_value_and_calibrates_a_biased_decoder():
    """A decoder that outputs mu = 1.5 x + 0.2 for input x (encoder z = x): its residual given mu is
    mu / 3 + 2 / 15, a linear function the binned offset reproduces at every bin's mean, so the
    corrected means mu - offset(mu) give back x (the outer segments extended into the tails) and the
    spread about the offset is zero."""
    from lhc_vae.models.vae import add_likelihood_noise, decoder_likelihood

    x_in = keras.Input((1,), name="met")
    encoder = keras.Model({"met": x_in}, {"z_mean": keras.layers.Identity()(x_in)})
    z_in = keras.Input((1,), name="z")
    head = keras.layers.Dense(
        1, kernel_initializer=keras.initializers.Constant(1.5), bias_initializer=keras.initializers.Constant(0.2)
    )
    decoder = keras.Model(z_in, {"met": head(z_in)})
    x = np.random.default_rng(0).standard_normal((40_000, 1)).astype(np.float32) + 3.0  # no all-zero rows
    offset, sigma = decoder_likelihood(encoder, decoder, {"met": x}, ["met"], calibrate=True, bins=20)
    assert len(offset["met"]["at"][0]) == 20
    np.testing.assert_allclose(offset["met"]["value"][0], np.asarray(offset["met"]["at"][0]) / 3 + 2 / 15, atol=1e-4)
    assert sigma["met"][0] < 1e-3  # the residual's spread was 0.5 (that of 0.5 x)
    mu = {"met": 1.5 * x + 0.2}
    corrected = add_likelihood_noise(mu, {"met": [0.0]}, np.random.default_rng(1), offset)["met"]
    np.testing.assert_allclose(corrected, x, atol=1e-3)
    assert np.abs(mu["met"] - x).mean() > 0.5  # the uncorrected decoder is far off
    # measured at the generation's perturbation z = z_mean + alpha * eps, alpha = 0.3: with
    # u = x + alpha eps = (mu - 0.2) / 1.5 and x ~ N(3, 1), E[x | u] = 3 + (u - 3) / (1 + alpha^2)
    # and the spread of x about it sqrt(alpha^2 / (1 + alpha^2)) = 0.287; the corrected samples are
    # then spread like the data (variance 1), where alpha alone would widen them to 1 + alpha^2
    offset_a, sigma_a = decoder_likelihood(encoder, decoder, {"met": x}, ["met"], calibrate=True, alpha=0.3, seed=2)
    at = np.asarray(offset_a["met"]["at"][0])
    expected_x = 3.0 + ((at - 0.2) / 1.5 - 3.0) / 1.09
    np.testing.assert_allclose(np.asarray(offset_a["met"]["value"][0])[2:-2], (at - expected_x)[2:-2], atol=0.02)
    assert sigma_a["met"][0] == pytest.approx(np.sqrt(0.09 / 1.09), rel=0.05)
    # generating as exp I does, from fresh perturbations of the same events: the calibrated samples
    # are spread like the data (variance 1)
    rng = np.random.default_rng(3)
    mu_gen = {"met": (1.5 * (x + 0.3 * rng.standard_normal(x.shape)) + 0.2).astype(np.float32)}
    calibrated = add_likelihood_noise(mu_gen, sigma_a, np.random.default_rng(4), offset_a)["met"]
    assert calibrated.std() == pytest.approx(1.0, rel=0.02) and calibrated.mean() == pytest.approx(3.0, abs=0.02)
    # the calibration made at z_mean (alpha 0, above), applied to the perturbed means: wider by alpha^2
    at_z_mean = add_likelihood_noise(mu_gen, sigma, np.random.default_rng(4), offset)["met"]
    assert at_z_mean.var() == pytest.approx(1.09, rel=0.03)


def test_an_output_of_slots_gets_an_offset_and_sigma_per_slot():
    """The baseline's objects are slots of one output. A decoder that outputs 1.3 in both slots, on
    data N(1, 0.5^2) in slot 0 and N(0.8, 0.2^2) in slot 1 (a third of slot 1 absent) and with slot 2
    filled in 100 events only: offsets 0.3 and 0.5, sigmas 0.5 and 0.2, each slot's own (pooled over
    the slots, one decoded value, the offset would read 0.38 for both); the sparse slot takes the
    pooled ones. Sampling gives back each slot's mean and spread."""
    from lhc_vae.models.vae import add_likelihood_noise, decoder_likelihood, likelihood_summary

    x_in = keras.Input((3, 1), name="features")
    encoder = keras.Model({"features": x_in}, {"z_mean": keras.layers.Flatten()(x_in)})
    z_in = keras.Input((3,), name="z")
    head = keras.layers.Dense(3, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(1.3))
    decoder = keras.Model(z_in, {"features": keras.layers.Reshape((3, 1))(head(z_in))})
    rng = np.random.default_rng(0)
    x = np.zeros((30_000, 3, 1), np.float32)
    x[:, 0, 0] = 1.0 + 0.5 * rng.standard_normal(30_000)
    x[:, 1, 0] = 0.8 + 0.2 * rng.standard_normal(30_000)
    x[::3, 1] = 0.0
    x[:100, 2, 0] = 2.0
    offset, sigma = decoder_likelihood(encoder, decoder, {"features": x}, ["features"], calibrate=True)
    values = offset["features"]["value"]
    assert values[0][0] == pytest.approx([0.3], abs=0.01) and values[1][0] == pytest.approx([0.5], abs=0.01)
    pooled_offset = (30_000 * 0.3 + 20_000 * 0.5 + 100 * -0.7) / 50_100  # 0.378
    assert values[2][0] == pytest.approx([pooled_offset], abs=0.01)  # not the sparse slot's own -0.7
    s0, s1, s2 = (sigma["features"][k][0] for k in range(3))
    assert s0 == pytest.approx(0.5, rel=0.02) and s1 == pytest.approx(0.2, rel=0.02) and s2 > 0.3
    means = {"features": np.full((50_000, 3, 1), 1.3, np.float32)}
    sampled = add_likelihood_noise(means, sigma, np.random.default_rng(1), offset)["features"]
    np.testing.assert_allclose(sampled[:, :2, 0].mean(axis=0), [1.0, 0.8], atol=0.01)
    np.testing.assert_allclose(sampled[:, :2, 0].std(axis=0), [0.5, 0.2], rtol=0.02)
    assert likelihood_summary(offset, sigma)["features"]["max_abs_offset"] == [pytest.approx(0.5, abs=0.01)]


def test_active_dimensions_are_those_with_kl_to_the_prior():
    """Dimensions whose posteriors equal N(0, 1) (mu 0, log-variance 0: KL exactly 0) are inactive;
    mu ~ N(0, 2^2) with sigma^2 = e^-4 has mean KL 0.5 (4 + e^-4 - 1 + 4) = 3.51 nats."""
    rng = np.random.default_rng(0)
    mu = np.zeros((5000, 4))
    mu[:, 1] = 2.0 * rng.standard_normal(5000)
    mu[:, 3] = 2.0 * rng.standard_normal(5000)
    log_var = np.zeros((5000, 4))
    log_var[:, [1, 3]] = -4.0
    assert priors.active_dimensions(mu, log_var).tolist() == [1, 3]
    assert priors.active_dimensions(mu, None).tolist() == [0, 1, 2, 3]
    kl = 0.5 * np.mean(mu[:, 1] ** 2 + np.exp(-4.0) - 1.0 + 4.0)
    assert kl == pytest.approx(3.51, abs=0.1)


def test_generation_in_the_met_frame_is_reproducible_and_inside_the_cuts():
    """The detector representation end to end: the same seed gives the same events (rotation and
    decoder noise included), another seed other ones, and every object passes its §3.1 cut."""
    from lhc_vae.events.selection import object_passes_cuts

    tables = make_tables(1500, seed=4)
    events, objects = primary_tables(tables)
    scaler = FeatureScaler.fit(events, objects, "detector")
    exp = get_experiment("exp3")
    keras.utils.set_random_seed(0)
    dec = exp.decoder(exp.layout, 16)
    sigma = {name: [0.5] * (2 if name == "met" else 4) for name, _, _ in [("met", None, None), *exp.layout.slots]}
    z = priors.sample_normal(2000, 16, seed=9)
    a, _ = generate(dec, z, exp.layout, scaler, "ttbar", 3, sigma=sigma)
    b, _ = generate(dec, z, exp.layout, scaler, "ttbar", 3, sigma=sigma)
    c, _ = generate(dec, z, exp.layout, scaler, "ttbar", 4, sigma=sigma)
    pd.testing.assert_frame_equal(a.objects, b.objects)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not np.allclose(a.events["met_phi"], c.events["met_phi"])
    assert len(a.objects) > 0 and object_passes_cuts(a.objects).all()
