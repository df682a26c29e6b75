"""Assemble encoder + variator + decoder into a trainable VAE, train it, and decode in batches.

The training model maps the event arrays to their reconstruction (and, for a beta-VAE, to the
per-event KL divergence, weighted by beta: thesis eq. 4.2). Encoder and decoder stay separate
Keras models so they are saved and reloaded on their own for generation.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lhc_vae.models.variators import AlphaVariator, BetaVariator, kl_loss


def assemble(
    encoder: keras.Model, decoder: keras.Model, variator: str, alpha: float = 0.0, seed: int | None = None
) -> keras.Model:
    """Training model: inputs -> encoder -> variator -> decoder (+ ``kl`` output for beta)."""
    inputs = {name: keras.Input(t.shape[1:], name=name) for name, t in encoder.input.items()}
    enc = encoder(inputs)
    if variator == "alpha":
        z = AlphaVariator(alpha, seed=seed, name="variator")(enc["z_mean"])
        outputs = dict(decoder(z))
    elif variator == "beta":
        z, kl = BetaVariator(seed=seed, name="variator")(enc["z_mean"], enc["z_log_var"])
        outputs = {**decoder(z), "kl": keras.layers.Identity(name="kl")(kl)}
    else:
        raise ValueError(f"variator must be 'alpha' or 'beta', got {variator!r}")
    return keras.Model(inputs, outputs, name=f"{variator}_vae")


def compile_vae(
    model: keras.Model,
    losses: dict[str, Any],
    beta: float | None,
    learning_rate: float,
    reconstruction_weight: float = 1.0,
) -> None:
    """Adam with ``reconstruction_weight`` x the reconstruction losses per output (+ beta * KL).

    Keras averages each reconstruction loss over features and events, while the KL term is summed
    over latent dimensions; with weight 1 every beta-VAE of experiments II and III collapsed onto
    its prior at beta = 1.5 (KL -> 0, standardised MSE -> 1.000, measured). The weight restores the
    scale of a summed reconstruction term (see the parameters files)."""
    losses = dict(losses)
    weights = {name: float(reconstruction_weight) for name in losses}
    if beta is not None:
        losses["kl"] = kl_loss
        weights["kl"] = float(beta)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=losses, loss_weights=weights)


def targets(arrays: dict[str, np.ndarray], beta: float | None) -> dict[str, np.ndarray]:
    """Autoencoder targets: the inputs themselves (+ zeros for the KL output)."""
    y = dict(arrays)
    if beta is not None:
        y["kl"] = np.zeros(len(next(iter(arrays.values()))), dtype=np.float32)
    return y


def train(
    model: keras.Model,
    train_arrays: dict[str, np.ndarray],
    val_arrays: dict[str, np.ndarray],
    beta: float | None,
    epochs: int,
    batch_size: int,
    backup_dir: str | Path,
    reduce_lr: dict[str, Any] | None = None,
    verbose: int = 2,
) -> dict[str, list[float]]:
    """Fit with progress per epoch; resumable from ``backup_dir`` (``BackupAndRestore``)."""
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.BackupAndRestore(str(backup_dir)),
        keras.callbacks.TerminateOnNaN(),
    ]
    if reduce_lr:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(**reduce_lr))
    history = model.fit(
        train_arrays,
        targets(train_arrays, beta),
        validation_data=(val_arrays, targets(val_arrays, beta)) if val_arrays else None,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=callbacks,
        verbose=verbose,
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def decode(decoder: keras.Model, z: np.ndarray, batch_size: int = 65536) -> dict[str, np.ndarray]:
    """Decoder outputs for latent points ``z``, in large batches (no loop over events)."""
    out = decoder.predict(z.astype(np.float32), batch_size=batch_size, verbose=0)
    return {k: np.asarray(v) for k, v in out.items()}


def encode(encoder: keras.Model, arrays: dict[str, np.ndarray], batch_size: int = 65536) -> dict[str, np.ndarray]:
    out = encoder.predict(arrays, batch_size=batch_size, verbose=0)
    return {k: np.asarray(v) for k, v in out.items()}


def time_per_event(decoder: keras.Model, latent_dim: int, n_large: int, seed: int) -> dict[str, float]:
    """Thesis eq. 6.7 (T_1K / 1000, one batch of 1000 after a warm-up) and steady state on ``n_large``."""
    rng = np.random.default_rng(seed)
    decode(decoder, rng.standard_normal((1000, latent_dim)))  # warm-up: graph tracing
    t0 = time.perf_counter()
    decode(decoder, rng.standard_normal((1000, latent_dim)))
    t_1k = time.perf_counter() - t0
    z = rng.standard_normal((n_large, latent_dim))
    t0 = time.perf_counter()
    decode(decoder, z)
    t_large = time.perf_counter() - t0
    return {
        "ms_per_event_t1k": 1e3 * t_1k / 1000,
        "ms_per_event_steady": 1e3 * t_large / n_large,
        "steady_events_per_second": n_large / t_large,
        "steady_batch": n_large,
    }


def fit_vae(
    encoder: keras.Model,
    decoder: keras.Model,
    variator: str,
    losses: dict[str, Any],
    train_arrays: dict[str, np.ndarray],
    val_arrays: dict[str, np.ndarray] | None,
    alpha: float,
    beta: float,
    seed: int,
    settings: dict[str, Any],
    backup_dir: str | Path,
) -> dict[str, list[float]]:
    """Assemble, compile and train one VAE (alpha or beta) with the experiment's ``settings``
    (``epochs``, ``batch_size``, ``learning_rate``, optional ``reduce_lr``); returns the history."""
    keras.utils.set_random_seed(int(seed))
    model = assemble(encoder, decoder, variator, alpha=float(alpha), seed=int(seed))
    use_beta = float(beta) if variator == "beta" else None
    compile_vae(model, losses, use_beta, float(settings["learning_rate"]), float(settings.get("reconstruction_weight", 1.0)))
    has_val = val_arrays is not None and len(next(iter(val_arrays.values()))) > 0
    return train(
        model,
        train_arrays,
        val_arrays if has_val else None,
        use_beta,
        epochs=int(settings["epochs"]),
        batch_size=int(settings["batch_size"]),
        backup_dir=backup_dir,
        reduce_lr=settings.get("reduce_lr"),
    )
