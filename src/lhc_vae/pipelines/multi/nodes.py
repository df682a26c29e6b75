"""Nodes of the multi-model experiments I and II (issue #6)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lhc_vae.events.chunks import Table
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.schema import COUNT_COLUMNS, SYMBOLS
from lhc_vae.events.selection import invalid_event_rate
from lhc_vae.events.split import split_tables, take_events
from lhc_vae.io import Chunk
from lhc_vae.models import multi
from lhc_vae.models.experiments import variator_of
from lhc_vae.models.generation import (
    START_POINTS,
    generate_in_pieces,
    multi_model_run,
    standardised_to_physical,
)
from lhc_vae.models.losses import continuous_outputs, loss_record
from lhc_vae.models.mask_generator import TwoLevelMaskGenerator
from lhc_vae.models.priors import TRUTH_PERTURBATION_NOTE
from lhc_vae.models.streaming import SplitStream
from lhc_vae.models.vae import decoder_likelihood, fit_vae, likelihood_summary
from lhc_vae.tags import resolve_prior, run_tag

log = logging.getLogger(__name__)


def _components(params: dict[str, Any]) -> list[multi.Component]:
    """The experiment's components with its latent size, exp I's mask width and whether exp II has
    models of the leading objects."""
    width = int(params.get("mask_width", multi.THERMOMETER_WIDTH))
    leading = bool(params.get("leading_models", False))
    return multi.components(params["experiment"], int(params["latent_dim"]), width, leading)


def train_component(
    model_events: Table,
    model_objects: Table,
    alpha: float,
    beta: float,
    seed: int,
    process: str,
    params: dict[str, Any],
    component: str,
) -> dict[str, Any]:
    """Train one component (the event/MET model or one particle type) on the training split.

    The model-input tables are DataFrames or the paths of their Parquet files, streamed through
    ``tf.data`` (issue #14 item 4; :class:`lhc_vae.models.multi.ComponentLayout`).

    The loss is thesis eq. 4.2 with summed reconstruction and KL terms per event; the record
    holds ``beta`` and ``effective_beta`` (the same number) and both reductions."""
    experiment = params["experiment"]
    variator = variator_of(experiment)
    comp = next((c for c in _components(params) if c.name == component), None)
    used = comp is not None
    if not used:  # a leading model with exp2.leading_models false: a node of the static DAG, not trained
        everything = multi.components(experiment, int(params["latent_dim"]), leading_models=True)
        comp = next(c for c in everything if c.name == component)
    import keras

    keras.utils.set_random_seed(int(seed))
    encoder, decoder = comp.encoder(), comp.decoder()
    n_train = 0
    if used:
        layout = multi.ComponentLayout(experiment, comp)
        train_arrays = SplitStream(model_events, model_objects, layout, "train")
        val_arrays = SplitStream(model_events, model_objects, layout, "validation")
        n_train = train_arrays.n_events
    if n_train == 0:
        if used:
            log.warning("%s/%s: no training objects; the component keeps its initial weights", experiment, component)
        history: dict[str, list[float]] = {}
        control: dict[str, Any] = {
            "stopped_by": "no training rows" if used else f"not used: {experiment}.leading_models is false",
            "epochs": 0,
            "optimizer_steps": 0,
            "training_seconds": 0.0,
        }
    else:
        value = alpha if variator == "alpha" else beta
        backup = Path(params["backup_dir"]) / process / experiment / run_tag(variator, value) / component
        history, control = fit_vae(
            encoder, decoder, variator, comp.losses, train_arrays, val_arrays, alpha, beta, seed, params, backup
        )
    return {
        "encoder": encoder,
        "decoder": decoder,
        "training": {
            "experiment": experiment,
            "component": component,
            "used": used,
            "variator": variator,
            "alpha": float(alpha) if variator == "alpha" else None,
            # beta, effective_beta (= beta: no separate reconstruction weight) and the reductions
            # of L_rec and L_KL in thesis eq. 4.2 (lhc_vae.models.losses)
            **loss_record(variator, float(beta) if variator == "beta" else None),
            "n_train": n_train,
            "encoder_params": encoder.count_params(),
            "decoder_params": decoder.count_params(),
            # epochs run, optimizer steps, seconds, training events/s, the epoch kept and what stopped training
            **control,
            "history": history,
        },
    }


def summarise_training(*trained: dict[str, Any]) -> tuple[dict[str, Any], plt.Figure]:
    """All components' training records in one JSON, and their loss curves in one figure."""
    records = {t["training"]["component"]: t["training"] for t in trained}
    used = {name: rec for name, rec in records.items() if rec.get("used", True)}
    ncols = 4 if len(used) <= 8 else 5
    nrows = -(-len(used) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.5 * nrows), squeeze=False)
    for ax in axes.flat[len(used) :]:
        ax.set_visible(False)
    for ax, (name, rec) in zip(axes.flat, used.items(), strict=False):
        for key in ("loss", "val_loss"):
            values = rec["history"].get(key)
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, "-" if key == "loss" else "--", label=key)
        ax.set_title(f"{name} ({rec['n_train']} training rows)")
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    first = next(iter(used.values()))
    summary = {
        "experiment": first["experiment"],
        "variator": first["variator"],
        "alpha": first["alpha"],
        "beta": first["beta"],
        "components": records,
        "training_seconds": sum(r["training_seconds"] for r in records.values()),
        "optimizer_steps": sum(r["optimizer_steps"] for r in records.values()),
    }
    return summary, fig


def fit_mask_generator(model_events: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Mask frequencies of the training split, split into two levels (thesis §7.5.2)."""
    train = model_events[(model_events["split"] == "train").to_numpy()]
    counts = train[[COUNT_COLUMNS[s] for s in SYMBOLS]].to_numpy()
    generator = TwoLevelMaskGenerator.fit(counts, float(params["frequent_mass"]))
    return {"symbols": list(SYMBOLS), **generator.to_dict()}


def _likelihoods(
    params: dict[str, Any],
    models: dict[str, dict[str, Any]],
    validation: tuple[pd.DataFrame, pd.DataFrame],
    from_truth: bool,
    alpha: float,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Each component's Gaussian-decoder offset and sigma per continuous output
    (:func:`lhc_vae.models.vae.decoder_likelihood`: calibrated at ``alpha`` when the run starts
    from truth events, exp I; exp II starts from noise), on its validation arrays (the components
    as the models were trained: :func:`lhc_vae.models.multi.components_of`). Exp I's object models
    are calibrated on their truth event's MET, where generation gives them the generated one."""
    experiment = params["experiment"]
    likelihoods = {}
    for comp in multi.components_of(experiment, models, int(params["latent_dim"])):
        arrays = multi.component_arrays(experiment, comp, *validation)
        if len(next(iter(arrays.values()))) and comp.name in models:
            m = models[comp.name]
            offset, sigma = decoder_likelihood(
                m["encoder"],
                m["decoder"],
                arrays,
                continuous_outputs(comp.losses),
                calibrate=from_truth,
                alpha=alpha,
                seed=seed,
            )
            likelihoods[comp.name] = {"offset": offset, "sigma": sigma}
    log.info(
        "%s: decoder likelihood per component (validation) %s",
        experiment,
        {name: likelihood_summary(c["offset"], c["sigma"]) for name, c in likelihoods.items()},
    )
    log.debug("%s: decoder offsets per component %s", experiment, {n: c["offset"] for n, c in likelihoods.items()})
    return likelihoods


def generate_events(
    model_events: pd.DataFrame,
    model_objects: pd.DataFrame,
    scaler: dict[str, Any],
    mask_generator: dict[str, Any] | None,
    n_generate: int,
    alpha: float,
    seed: int,
    process: str,
    latent_prior: str,
    params: dict[str, Any],
    generation: dict[str, Any],
    *trained: dict[str, Any],
) -> Iterator[tuple[Chunk, Chunk, Chunk, Chunk]]:
    """Generate ``n_generate`` events with every component (thesis §7.4.2 or §7.5.3), batched.

    Timed by eq. 6.7 from the experiment's start point to GeV: exp I from validation truth events
    through the encoders, exp II from noise and the mask generator (:data:`START_POINTS`). A
    generator node: chunks of ``generation.chunk_events``, each written as it is made, on the Dask
    cluster of ``generation`` when one is set (issue #14 item 5)."""
    experiment = params["experiment"]
    variator = variator_of(experiment)
    thesis_prior = resolve_prior("auto", variator)  # exp I: truth perturbation; exp II: noise
    if resolve_prior(latent_prior, variator) != thesis_prior:
        raise ValueError(
            f"{experiment} generates with the {thesis_prior} prior of the thesis; "
            f"latent_prior={latent_prior} is not "
            f"supported here (use auto)"
        )
    models = multi.models_in_use(trained)
    from_noise = experiment == "exp2"  # exp I starts from truth events (START_POINTS)
    n = int(n_generate)
    fs = FeatureScaler.from_dict(scaler)
    validation = split_tables(model_events, model_objects, "validation")
    likelihood = (
        _likelihoods(params, models, validation, not from_noise, float(alpha), int(seed))
        if params.get("likelihood_noise")
        else None
    )
    if experiment == "exp1":
        run = multi_model_run(
            experiment,
            models,
            fs,
            process,
            truth=validation,
            alpha=float(alpha),
            threshold=float(params["mask_threshold"]),
            likelihood=likelihood,
        )
    else:
        run = multi_model_run(
            experiment,
            models,
            fs,
            process,
            mask_generator=mask_generator,
            latent_dim=int(params["latent_dim"]),
            likelihood=likelihood,
        )
    design = {}
    if experiment == "exp2":
        design["ier_independent_truth_percent"] = _independent_draw_ier(
            model_events, model_objects, fs, process, int(seed), multi.leading_types_of(models)
        )
    yield from generate_in_pieces(
        run,
        n,
        int(seed),
        generation,
        **design,
        experiment=experiment,
        variator=variator,
        latent_prior=thesis_prior,
        from_noise=from_noise,
        start_point=START_POINTS[experiment],
        note=TRUTH_PERTURBATION_NOTE
        if experiment == "exp1"
        else "generated from noise with masks from the two-level statistical generator",
    )


def _independent_draw_ier(
    model_events: pd.DataFrame,
    model_objects: pd.DataFrame,
    scaler: FeatureScaler,
    process: str,
    seed: int,
    leading_types: tuple[str, ...],
) -> float:
    """The invalid event rate (thesis eq. 6.6) of the training split with every object's features
    drawn from another object of its type (:func:`lhc_vae.models.multi.independent_objects`): that
    of a perfect model of experiment II's design, whose per-type models learnt their distributions
    exactly."""
    rows = np.flatnonzero((model_events["split"] == "train").to_numpy())
    events, objects = take_events(model_events, model_objects, rows)
    drawn = multi.independent_objects(objects, seed, leading_types)
    tables, _ = standardised_to_physical(events, drawn, scaler, process, seed)
    rate = invalid_event_rate(tables.objects, tables.n_events)
    log.info("exp2: invalid event rate of independent per-type draws from the training truth %.2f %%", rate)
    return rate


def _mask_keys(events: pd.DataFrame) -> pd.Series:
    counts = events[[COUNT_COLUMNS[s] for s in SYMBOLS]].to_numpy()
    return pd.Series(["".join(str(min(c, 9)) for c in row) for row in counts])


def mask_proportion_plots(
    generated_events: pd.DataFrame, model_events: pd.DataFrame, params: dict[str, Any]
) -> dict[str, plt.Figure]:
    """Generated vs truth (test split) proportions of the frequent and the rare masks (thesis figs. 7.33/7.34).

    A mask is written as the 7 counts in Table 3.1 order (j b e- e+ m- m+ g), e.g. ``2200001``.
    """
    truth = _mask_keys(model_events[(model_events["split"] == "test").to_numpy()]).value_counts(normalize=True)
    gen = _mask_keys(generated_events).value_counts(normalize=True)
    cumulative = truth.cumsum()
    n_frequent = int(np.searchsorted(cumulative.to_numpy(), float(params.get("frequent_mass", 0.85)))) + 1
    figures = {}
    for name, keys in (
        ("masks_frequent.png", truth.index[:n_frequent]),
        ("masks_rare.png", truth.index[n_frequent : n_frequent + 40]),
    ):
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(keys)), 4))
        x = np.arange(len(keys))
        ax.bar(x - 0.2, truth.reindex(keys).to_numpy(), 0.4, label="truth (test split)", color="black")
        ax.bar(x + 0.2, gen.reindex(keys).fillna(0).to_numpy(), 0.4, label="generated", color="tab:orange")
        ax.set_xticks(x, keys, rotation=90, fontsize=7)
        ax.set_ylabel("fraction of events")
        ax.set_xlabel("mask (counts of j b e- e+ m- m+ g)")
        ax.legend()
        fig.tight_layout()
        figures[name] = fig
    return figures
