"""The beta-VAE loss of thesis eq. 4.2, L = L_rec + beta * L_KL, summed per event (issue #11 item 7)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lhc_vae.models import multi
from lhc_vae.models.experiments import EXPERIMENTS
from lhc_vae.models.losses import (
    RECONSTRUCTION_LOSSES,
    kl_divergence,
    loss_record,
    reconstruction_loss,
    summed_binary_crossentropy,
    summed_categorical_crossentropy,
    summed_mse,
)
from lhc_vae.models.vae import assemble, compile_vae, fit_vae, targets

LN2 = float(np.log(2.0))


def test_summed_mse_sums_over_features_known_answer():
    y_true, y_pred = np.zeros((3, 4), np.float32), np.ones((3, 4), np.float32)
    np.testing.assert_allclose(np.asarray(summed_mse(y_true, y_pred)), [4.0, 4.0, 4.0])  # Keras's "mse": 1.0
    assert float(np.mean(keras.losses.mean_squared_error(y_true, y_pred))) == pytest.approx(1.0)
    # (n, slots, features): all non-batch axes are summed, 3 slots x 4 features x 2^2 = 48
    np.testing.assert_allclose(
        np.asarray(summed_mse(np.zeros((2, 3, 4)), np.full((2, 3, 4), 2.0, np.float32))), [48.0, 48.0]
    )


def test_summed_bce_is_k_ln2_at_one_half():
    y_true = np.array([[0, 1, 1, 0, 1, 0], [1, 1, 1, 1, 1, 1]], np.float32)
    out = np.asarray(summed_binary_crossentropy(y_true, np.full((2, 6), 0.5, np.float32)))
    np.testing.assert_allclose(out, [6 * LN2, 6 * LN2], rtol=1e-6)
    # one entry: -ln 0.8 for a 1 predicted at 0.8, -ln 0.7 for a 0 predicted at 0.3
    out = np.asarray(summed_binary_crossentropy(np.array([[1.0, 0.0]], np.float32), np.array([[0.8, 0.3]], np.float32)))
    assert float(out[0]) == pytest.approx(-np.log(0.8) - np.log(0.7), rel=1e-6)


def test_summed_cce_sums_over_slots():
    classes, slots = 8, 19  # the baseline's types output: (n, 19 slots, 8 classes)
    y_true = np.zeros((2, slots, classes), np.float32)
    y_true[:, :, -1] = 1.0
    uniform = np.full((2, slots, classes), 1.0 / classes, np.float32)
    np.testing.assert_allclose(
        np.asarray(summed_categorical_crossentropy(y_true, uniform)), [slots * np.log(classes)] * 2, rtol=1e-6
    )


def test_every_experiment_uses_the_summed_losses_on_every_output():
    """Baseline, exp III and every component of exp I and II: one loss per decoder output, each a
    summed loss (no Keras averaged "mse" anywhere)."""
    summed = set(RECONSTRUCTION_LOSSES.values())
    for exp in EXPERIMENTS.values():
        assert set(exp.losses.values()) <= summed, exp.name
    assert EXPERIMENTS["baseline"].losses["types"] is summed_categorical_crossentropy
    assert EXPERIMENTS["exp3"].losses["mask"] is summed_binary_crossentropy
    for name in ("exp1", "exp2"):
        for comp in multi.components(name, 4):
            assert set(comp.losses.values()) <= summed, (name, comp.name)
            assert set(comp.losses) == set(comp.input_dims), (name, comp.name)
    with pytest.raises(ValueError, match="summed over features"):
        reconstruction_loss("mse")
    assert reconstruction_loss("summed_mse") is summed_mse


def test_loss_record_reports_the_thesis_beta():
    record = loss_record("beta", 1.5)
    assert record["beta"] == record["effective_beta"] == 1.5
    assert record["reconstruction_loss"] == "sum over features per event, mean over events"
    assert loss_record("alpha", None)["effective_beta"] is None


def _tiny_beta_vae(kernel_scale: float, seed: int = 0):
    """Encoder and decoder with outputs of every shape and loss kind: met (n, 2) MSE,
    features (n, 3, 4) MSE, types (n, 3, 5) softmax CCE, mask (n, 6) sigmoid BCE; latent 3."""
    init = keras.initializers.RandomNormal(stddev=kernel_scale, seed=seed) if kernel_scale else "zeros"
    inputs = {"met": keras.Input((2,), name="met"), "mask": keras.Input((6,), name="mask")}
    h = keras.layers.Concatenate()([inputs["met"], inputs["mask"]])
    z_mean = keras.layers.Dense(3, kernel_initializer=init, bias_initializer="zeros", name="z_mean")(h)
    z_log_var = keras.layers.Dense(
        3, kernel_initializer=init, bias_initializer=keras.initializers.Constant(np.log(4.0)), name="z_log_var"
    )(h)
    encoder = keras.Model(inputs, {"z_mean": z_mean, "z_log_var": z_log_var})
    z = keras.Input((3,))
    ones = keras.initializers.Constant(1.0)
    outputs = {
        "met": keras.layers.Dense(2, kernel_initializer=init, bias_initializer=ones, name="met")(z),
        "features": keras.layers.Reshape((3, 4), name="features")(
            keras.layers.Dense(12, kernel_initializer=init, bias_initializer=ones)(z)
        ),
        "types": keras.layers.Softmax(name="types")(
            keras.layers.Reshape((3, 5))(keras.layers.Dense(15, kernel_initializer=init)(z))
        ),
        "mask": keras.layers.Dense(6, activation="sigmoid", kernel_initializer=init, name="mask")(z),
    }
    decoder = keras.Model(z, outputs)
    losses = {
        "met": summed_mse,
        "features": summed_mse,
        "types": summed_categorical_crossentropy,
        "mask": summed_binary_crossentropy,
    }
    return encoder, decoder, losses


def _arrays(n: int = 8, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    types = np.eye(5, dtype=np.float32)[rng.integers(0, 5, (n, 3))]
    return {
        "met": rng.standard_normal((n, 2)).astype(np.float32),
        "features": rng.standard_normal((n, 3, 4)).astype(np.float32),
        "types": types,
        "mask": (rng.random((n, 6)) < 0.5).astype(np.float32),
    }


def _evaluate(model, x, y, n):
    return model.evaluate(x, y, batch_size=n, verbose=0, return_dict=True)


def test_compiled_loss_of_a_constant_model_is_known_by_hand():
    """Zero kernels: z_mean = 0, log var = ln 4, met = features = 1, types uniform, mask 0.5.
    With zero targets for met and features: L_rec = 2 + 12 + 3 ln 5 + 6 ln 2 per event, and
    KL = 3 x (-1/2)(1 + ln 4 - 0 - 4) = 1.5 (3 - ln 4) per event."""
    encoder, decoder, losses = _tiny_beta_vae(kernel_scale=0.0)
    model = assemble(encoder, decoder, "beta", seed=0)
    beta = 1.5
    compile_vae(model, losses, beta, 1e-3)
    n = 8
    arrays = _arrays(n)
    y = {**arrays, "met": np.zeros((n, 2), np.float32), "features": np.zeros((n, 3, 4), np.float32)}
    x = {"met": arrays["met"], "mask": arrays["mask"]}
    result = _evaluate(model, x, targets(y, beta), n)
    rec = 2.0 + 12.0 + 3 * np.log(5.0) + 6 * LN2
    kl = 1.5 * (3 - np.log(4.0))
    assert result["loss"] == pytest.approx(rec + beta * kl, rel=1e-5)
    assert result["met_loss"] == pytest.approx(2.0, rel=1e-6) and result["features_loss"] == pytest.approx(
        12.0, rel=1e-6
    )
    assert result["kl_loss"] == pytest.approx(kl, rel=1e-5)


def test_compiled_loss_equals_the_hand_computed_negative_elbo():
    """Random weights: Keras's total loss on one batch = mean over events of the summed
    reconstruction terms of all outputs + beta x the mean KL from the encoder's mu, log var."""
    encoder, decoder, losses = _tiny_beta_vae(kernel_scale=0.7, seed=3)
    beta = 0.7
    n = 16
    arrays = _arrays(n, seed=5)
    x = {"met": arrays["met"], "mask": arrays["mask"]}
    for variator in ("beta", "alpha"):
        model = assemble(encoder, decoder, variator, alpha=0.3, seed=0)
        use_beta = beta if variator == "beta" else None
        compile_vae(model, losses, use_beta, 1e-3)
        result = _evaluate(model, x, targets(arrays, use_beta), n)
        enc = encoder.predict(x, verbose=0)
        pred = decoder.predict(enc["z_mean"], verbose=0)  # inference: z = mu for both variators
        eps = keras.config.epsilon()
        p_mask = np.clip(pred["mask"], eps, 1 - eps)
        p_types = np.clip(pred["types"] / pred["types"].sum(-1, keepdims=True), eps, 1 - eps)
        rec = (
            ((pred["met"] - arrays["met"]) ** 2).sum(1)
            + ((pred["features"] - arrays["features"]) ** 2).sum((1, 2))
            - (arrays["types"] * np.log(p_types)).sum((1, 2))
            - (arrays["mask"] * np.log(p_mask) + (1 - arrays["mask"]) * np.log(1 - p_mask)).sum(1)
        )
        kl = -0.5 * (1 + enc["z_log_var"] - enc["z_mean"] ** 2 - np.exp(enc["z_log_var"])).sum(1)
        np.testing.assert_allclose(np.asarray(kl_divergence(enc["z_mean"], enc["z_log_var"])), kl, rtol=1e-5)
        expected = rec.mean() + (beta * kl.mean() if variator == "beta" else 0.0)
        assert result["loss"] == pytest.approx(expected, rel=1e-5), variator
        assert ("kl_loss" in result) == (variator == "beta")


def test_compile_refuses_averaged_losses_and_fit_refuses_a_reconstruction_weight(tmp_path):
    encoder, decoder, losses = _tiny_beta_vae(kernel_scale=0.0)
    with pytest.raises(ValueError, match="summed over features"):
        compile_vae(assemble(encoder, decoder, "beta", seed=0), {**losses, "met": "mse"}, 1.0, 1e-3)
    arrays = _arrays(4)
    settings = {"epochs": 1, "batch_size": 4, "learning_rate": 1e-3, "reconstruction_weight": 100.0}
    with pytest.raises(ValueError, match="reconstruction_weight is gone"):
        fit_vae(encoder, decoder, "beta", losses, arrays, None, 0.0, 1.5, 0, settings, tmp_path / "bk")
