"""Nodes shared by the single-model VAE experiments (baseline, experiment III; issue #5).

Each node is a thin function of tables and parameters; the model maths lives in
:mod:`lhc_vae.models`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lhc_vae.evaluation.features import full_event_matrix
from lhc_vae.events.chunks import Table
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.split import take_events
from lhc_vae.io import Chunk, chunked
from lhc_vae.models import priors, refinement
from lhc_vae.models.experiments import Experiment, get_experiment
from lhc_vae.models.generation import (
    START_POINTS,
    chunk_bounds,
    generate_in_pieces,
    run_generation,
    single_model_run,
)
from lhc_vae.models.losses import continuous_outputs, loss_record
from lhc_vae.models.streaming import SplitStream, count_split
from lhc_vae.models.vae import decoder_likelihood, encode, fit_vae, likelihood_summary
from lhc_vae.tags import resolve_prior, run_tag

log = logging.getLogger(__name__)


def _stream(exp: Experiment, events: Table, objects: Table, split: str) -> SplitStream:
    return SplitStream(events, objects, exp.layout, split)


def train_vae(
    model_events: Table,
    model_objects: Table,
    alpha: float,
    beta: float,
    seed: int,
    process: str,
    params: dict[str, Any],
) -> tuple[keras.Model, keras.Model, dict[str, Any]]:
    """Train the experiment's VAE on the training split (validation split for monitoring).

    The model-input tables are DataFrames, or the paths of their Parquet files (the catalog's
    ``model_input_*@file``): then training streams them in batches through ``tf.data`` and its
    memory does not grow with the sample (issue #14 item 4; :mod:`lhc_vae.models.streaming`).

    The loss is thesis eq. 4.2 with summed reconstruction and KL terms per event, so the recorded
    ``beta`` (and ``effective_beta``, the same number) is the thesis's beta."""
    exp = get_experiment(params["experiment"])
    train_arrays = _stream(exp, model_events, model_objects, "train")
    val_arrays = _stream(exp, model_events, model_objects, "validation")
    n_train = train_arrays.n_events
    if n_train == 0:
        raise ValueError(f"{exp.name}: no training events pass the experiment's event filter")
    keras.utils.set_random_seed(int(seed))
    latent = int(params["latent_dim"])
    encoder = exp.encoder(exp.layout, latent)
    decoder = exp.decoder(exp.layout, latent)
    use_beta = float(beta) if exp.variator == "beta" else None
    tag = run_tag(exp.variator, alpha if exp.variator == "alpha" else beta)
    backup = Path(params["backup_dir"]) / process / exp.name / tag
    log.info(
        "%s %s: training on %d events (%d validation), at most %d epochs",
        exp.name,
        tag,
        n_train,
        val_arrays.n_events,
        params["epochs"],
    )
    history, control = fit_vae(
        encoder, decoder, exp.variator, exp.losses, train_arrays, val_arrays, alpha, beta, seed, params, backup
    )
    info = {
        "experiment": exp.name,
        "variator": exp.variator,
        "alpha": float(alpha) if exp.variator == "alpha" else None,
        # beta, effective_beta (= beta: no separate reconstruction weight) and the reductions of
        # L_rec and L_KL in thesis eq. 4.2 (lhc_vae.models.losses)
        **loss_record(exp.variator, use_beta),
        "seed": int(seed),
        "n_train_events": n_train,
        "n_validation_events": val_arrays.n_events,
        "fraction_of_training_split_used": n_train / max(count_split(model_events, "train"), 1),
        "encoder_params": encoder.count_params(),
        "decoder_params": decoder.count_params(),
        # epochs run, optimizer steps, seconds, training events/s, the epoch kept and what stopped training
        **control,
        "history": history,
    }
    return encoder, decoder, info


def plot_history(info: dict[str, Any]) -> plt.Figure:
    """Loss curves (total and per output, train and validation)."""
    history = info["history"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, values in history.items():
        if key.endswith("loss") and key != "learning_rate":
            style = "--" if key.startswith("val_") else "-"
            ax.plot(np.arange(1, len(values) + 1), values, style, label=key, lw=2 if key in ("loss", "val_loss") else 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(f"{info['experiment']} ({info['variator']}-VAE)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def fit_latent_prior(
    encoder: keras.Model,
    decoder: keras.Model,
    model_events: Table,
    model_objects: Table,
    latent_prior: str,
    bgmm_components: int,
    seed: int,
    params: dict[str, Any],
    alpha: float,
) -> dict[str, Any]:
    """The generative model around the trained decoder: the latent prior (N(0,1), a BGMM on
    training encodings, or validation truth events for alpha-VAEs) and, with
    ``params["likelihood_noise"]``, the decoder's Gaussian sigma per continuous output and, for the
    truth prior perturbed by ``alpha``, its offset, measured on the validation split
    (:func:`lhc_vae.models.vae.decoder_likelihood`). The tables: DataFrames or
    Parquet paths, as for :func:`train_vae`; the BGMM is fitted on the encodings of the first
    ``params["bgmm_fit_events"]`` training events (all of them when it is null), and the decoder's
    sigma and the truth prior hold the whole validation split in memory.

    Truth-perturbation uses the *validation* split so the test split stays untouched for evaluation.
    The ``truth`` prior keeps the events' model-input arrays, not their encodings: generation
    encodes them inside its timed run, so an alpha-VAE's time per event includes the encoder.
    """
    exp = get_experiment(params["experiment"])
    kind = resolve_prior(latent_prior, exp.variator)
    prior: dict[str, Any] = {"kind": kind, "latent_dim": int(params["latent_dim"])}
    held_out = None  # the validation split's model-input arrays, read once for the sigma and the truth prior
    if params.get("likelihood_noise") or kind == "truth":
        validation = _stream(exp, model_events, model_objects, "validation")
        if kind == "truth" and validation.n_events == 0:
            raise ValueError(
                f"{exp.name}: no validation events pass the experiment's event filter; "
                "the truth prior has no start point"
            )
        held_out = validation.head()
    if params.get("likelihood_noise"):
        offset, prior["likelihood_sigma"] = decoder_likelihood(
            encoder,
            decoder,
            held_out,
            continuous_outputs(exp.losses),
            calibrate=kind == "truth",
            alpha=float(alpha),
            seed=int(seed),
        )
        if offset is not None:
            prior["likelihood_offset"] = offset
        log.info(
            "%s: decoder likelihood (validation) %s", exp.name, likelihood_summary(offset, prior["likelihood_sigma"])
        )
        log.debug("%s: decoder offset per feature %s", exp.name, offset)
    if kind == "bgmm":
        fit_events = params.get("bgmm_fit_events")
        encoded = encode(encoder, _stream(exp, model_events, model_objects, "train").head(fit_events))
        active = priors.active_dimensions(encoded["z_mean"], encoded.get("z_log_var"))
        if active.size == 0:  # a collapsed encoder (e.g. one epoch): fit every dimension, as without the selection
            log.warning(
                "%s: no latent dimension has KL above %.2f nats (a collapsed encoder); "
                "the BGMM is fitted in all of them",
                exp.name,
                priors.MIN_ACTIVE_KL,
            )
            active = np.arange(encoded["z_mean"].shape[1])
        mixture = priors.fit_bgmm(encoded["z_mean"][:, active], int(bgmm_components), int(seed))
        prior["mixture"] = priors.mixture_arrays(mixture)
        prior["components"] = int(bgmm_components)
        prior["active_dims"] = active.tolist()
        log.info(
            "%s: BGMM with %d components on the %d of %d latent dimensions in use",
            exp.name,
            int(bgmm_components),
            len(active),
            prior["latent_dim"],
        )
    elif kind == "truth":
        prior["inputs"] = held_out
    return prior


def generate_events(
    encoder: keras.Model,
    decoder: keras.Model,
    prior: dict[str, Any],
    scaler: dict[str, Any],
    n_generate: int,
    alpha: float,
    seed: int,
    process: str,
    params: dict[str, Any],
    generation: dict[str, Any],
) -> Iterator[tuple[Chunk, Chunk, Chunk, Chunk]]:
    """Generate ``n_generate`` events from the prior's start point (noise, or truth events through
    the encoder) -> decoder (large batches) -> GeV tables, timed by eq. 6.7 over that whole chain.

    A generator node: events come in chunks of ``generation.chunk_events``, each written as it is
    made, on the Dask cluster of ``generation`` when one is set (issue #14 item 5)."""
    exp = get_experiment(params["experiment"])
    fs = FeatureScaler.from_dict(scaler)
    batch = int(params.get("generation_batch", 65536))
    n = int(n_generate)
    run = single_model_run(exp.layout, decoder, prior, fs, process, float(alpha), encoder, batch)
    yield from generate_in_pieces(
        run,
        n,
        int(seed),
        generation,
        experiment=exp.name,
        variator=exp.variator,
        latent_prior=prior["kind"],
        from_noise=prior["kind"] != "truth",
        start_point=START_POINTS[prior["kind"]],
        note=priors.TRUTH_PERTURBATION_NOTE if prior["kind"] == "truth" else "generated from the latent prior only",
    )


def generate_refined(
    encoder: keras.Model,
    decoder: keras.Model,
    prior: dict[str, Any],
    scaler: dict[str, Any],
    primary_events: pd.DataFrame,
    primary_objects: pd.DataFrame,
    n_generate: int,
    seed: int,
    process: str,
    params: dict[str, Any],
    refine: dict[str, Any],
    generation: dict[str, Any],
) -> Iterator[tuple[Chunk, Chunk, Chunk, Chunk]]:
    """Classifier-refined generation (:mod:`lhc_vae.models.refinement`): candidates from the prior
    broadened by ``refine.proposal_scale``, kept in stages (one per entry of ``refine.w_max``; a
    single value: one stage) by classifiers fitted on the truth's *training* split (the experiment's
    subset), until ``n_generate`` are kept. The time per event covers the whole chain per kept event
    (every rejected candidate and every classifier's evaluation); the classifiers' fits, once per
    run, are recorded apart (``refinement.fit_seconds``).

    Chunks of ``generation.chunk_events``, made in this process: the stages count candidates as
    they draw (a cluster would keep those counts on its workers)."""
    exp = get_experiment(params["experiment"])
    if prior["kind"] == "truth":
        raise ValueError(f"{exp.name}: refinement starts from a prior of noise (normal or bgmm), not from truth events")
    w_max = [float(w) for w in np.atleast_1d(refine["w_max"])]
    scale = float(refine.get("proposal_scale", 1.0))
    fs = FeatureScaler.from_dict(scaler)
    batch = int(params.get("generation_batch", 65536))
    inner = single_model_run(exp.layout, decoder, {**prior, "scale": scale}, fs, process, 0.0, encoder, batch)
    train = (primary_events["split"] == "train").to_numpy() & exp.layout.select(primary_events)
    truth = full_event_matrix(*take_events(primary_events, primary_objects, np.flatnonzero(train)))
    n_fit = min(len(truth), int(refine["max_fit_events"]))
    t0 = time.perf_counter()
    # the classifiers' random states start at seed + 1, never the report classifier's (params:seed)
    stages = refinement.staged_refinement(
        inner, truth, w_max, n_fit, int(seed), float(refine["max_candidates_per_event"])
    )
    fit_seconds = time.perf_counter() - t0
    for k, stage in enumerate(stages, 1):
        log.info(
            "%s refiner %d: AUC %.3f of stage %d against the training truth (held out), acceptance %.3f",
            exp.name,
            k,
            stage.refiner.holdout_auc,
            k - 1,
            stage.refiner.holdout_acceptance,
        )
        stage.candidates = stage.kept = 0  # count the generation's draws only
    steps = run_generation(
        stages[-1],
        int(n_generate),
        int(seed),
        generation.get("chunk_events"),
        experiment=exp.name,
        variator=exp.variator,
        latent_prior=f"{prior['kind']}+refined",
        from_noise=True,
        start_point=f"{START_POINTS[prior['kind']]} (spread x {scale:g}) -> {len(stages)} classifier stage(s) keep "
        f"with min(w / w_max, 1), w_max = {', '.join(f'{w:g}' for w in w_max)}",
        note="generated from the latent prior, then kept by classifiers fitted on the training split",
    )
    count = len(chunk_bounds(int(n_generate), generation.get("chunk_events")))
    yield from chunked(_with_refinement(steps, stages, w_max, scale, n_fit, fit_seconds), count)


def _with_refinement(
    steps: Iterator[tuple[Any, ...]],
    stages: list[refinement.RefinedRun],
    w_max: list[float],
    scale: float,
    n_fit: int,
    fit_seconds: float,
) -> Iterator[tuple[Any, ...]]:
    """Each step's statistics with the stages' counts so far (the last step's are the run's)."""
    for events, objects, tables, stats in steps:
        record = _refinement_record(stages, w_max, scale, n_fit, fit_seconds)
        yield events, objects, tables, {**stats, "refinement": record}


def _refinement_record(
    stages: list[refinement.RefinedRun], w_max: list[float], scale: float, n_fit: int, fit_seconds: float
) -> dict[str, Any]:
    return {
        "w_max": w_max,
        "proposal_scale": scale,
        "fit_events_per_class": n_fit,  # 80 % fitted, 20 % held out
        "fit_seconds": fit_seconds,  # candidates for the fits + the classifiers' fits, once per run (not per event)
        "holdout_auc_raw_generator": stages[0].refiner.holdout_auc,
        "candidates": stages[0].candidates,  # from the decoder, for every event kept (timing calls included)
        "acceptance": stages[-1].kept / stages[0].candidates,
        "stages": [
            {
                "w_max": stage.refiner.w_max,
                "holdout_auc": stage.refiner.holdout_auc,  # of the previous stage against the training truth
                "candidates": stage.candidates,
                "acceptance": stage.kept / stage.candidates,
            }
            for stage in stages
        ],
    }
