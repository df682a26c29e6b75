"""Nodes of the ``learning_curve`` pipeline (issue #12 item 4): how much Monte Carlo a generator needs.

Each experiment is trained on nested, seeded subsets of the training split (10k, 30k, 100k, 300k
events, as many as the sample has, and the whole split), generates, and is compared with the
held-out test split exactly as the report does (the feature scaler is the one fitted on the whole
training split, for every size) (:func:`lhc_vae.evaluation.evaluate.compare` at
the floor's sample size): invalid event rate (eq. 6.6), full-event classifier AUC and sample W1
of MET, HT and the leading jet's pT, with the truth-vs-truth floor of each.
"""

from __future__ import annotations

import logging
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lhc_vae.evaluation.evaluate import Sample, compare
from lhc_vae.io import single_chunk
from lhc_vae.models.experiments import MULTI_VARIATOR, variator_of
from lhc_vae.pipelines.multi import nodes as multi_nodes
from lhc_vae.pipelines.multi.pipeline import component_names
from lhc_vae.pipelines.report.nodes import subset_of, truth_samples
from lhc_vae.pipelines.vae import nodes as vae_nodes
from lhc_vae.tags import FLOOR

log = logging.getLogger(__name__)

#: Variables whose sample W1 (in units of the truth's sigma) the issue's targets name.
TARGET_VARIABLES = ("met", "ht", "jet1_pt")
#: A point's generation is small and stays in memory: one chunk, in this process.
ONE_CHUNK: dict[str, Any] = {"chunk_events": None}


def training_sizes(n_available: int, requested: list[int]) -> list[int]:
    """The requested sizes the training split can give, and the whole split (as many as the sample has)."""
    sizes = sorted({int(n) for n in requested if 0 < int(n) < n_available} | {n_available})
    return sizes


def subsample_training(
    events: pd.DataFrame, objects: pd.DataFrame, n: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep ``n`` training events (the first n of a seeded permutation, so smaller subsets are nested
    in larger ones) and every validation and test event, with their objects."""
    train = np.flatnonzero((events["split"] == "train").to_numpy())
    keep = np.ones(len(events), dtype=bool)
    keep[train] = False
    keep[train[np.random.default_rng([int(seed), 0xC0]).permutation(len(train))[:n]]] = True
    kept_index = events["event_index"].to_numpy()[keep]
    return events[keep], objects[np.isin(objects["event_index"].to_numpy(), kept_index)]


def _train_and_generate(
    experiment: str,
    events: pd.DataFrame,
    objects: pd.DataFrame,
    scaler: dict[str, Any],
    value: float,
    seed: int,
    process: str,
    params: dict[str, Any],
    n_generate: int,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Train one experiment at alpha or beta ``value`` and generate with its default prior (the
    same node functions as the experiment's own pipeline)."""
    alpha, beta = (value, 0.0) if variator_of(experiment) == "alpha" else (0.0, value)
    if experiment in MULTI_VARIATOR:
        trained = [
            multi_nodes.train_component(events, objects, alpha, beta, seed, process, params, component=name)
            for name in component_names(experiment)
        ]
        training, fig = multi_nodes.summarise_training(*trained)
        plt.close(fig)
        masks = multi_nodes.fit_mask_generator(events, params) if experiment == "exp2" else None
        gen_events, gen_objects, _, stats = single_chunk(
            multi_nodes.generate_events(
                events, objects, scaler, masks, n_generate, alpha, seed, process, "auto", params, ONE_CHUNK, *trained
            )
        )
        return gen_events, gen_objects, training, stats
    encoder, decoder, training = vae_nodes.train_vae(events, objects, alpha, beta, seed, process, params)
    prior = vae_nodes.fit_latent_prior(encoder, decoder, events, objects, "auto", 0, seed, params, alpha)
    gen_events, gen_objects, _, stats = single_chunk(
        vae_nodes.generate_events(encoder, decoder, prior, scaler, n_generate, alpha, seed, process, params, ONE_CHUNK)
    )
    return gen_events, gen_objects, training, stats


def _events_trained_on(training: dict[str, Any]) -> int:
    """Training events a run's model saw: a single model's, or the event/MET component's (exp I, II)."""
    if "n_train_events" in training:
        return int(training["n_train_events"])
    components = training["components"]
    return int(components["event" if "event" in components else "met"]["n_train"])


def _point(summary: dict[str, Any], per_variable: pd.DataFrame) -> dict[str, Any]:
    w1 = per_variable.set_index("variable")["w1_sample"]
    return {
        "auc_full": summary["auc_full"],
        "auc_full_err": summary["auc_full_err"],
        "w1_sample": summary["w1_sample"],
        "js": summary["js"],
        **{f"w1_{v}": float(w1[v]) for v in TARGET_VARIABLES},
    }


def learning_curve(
    model_events: pd.DataFrame,
    model_objects: pd.DataFrame,
    scaler: dict[str, Any],
    primary_events: pd.DataFrame,
    primary_objects: pd.DataFrame,
    value: float,
    seed: int,
    process: str,
    curve: dict[str, Any],
    report: dict[str, Any],
    params: dict[str, Any],
) -> pd.DataFrame:
    """One experiment's learning curve: a row per training size (and one for the floor) with the
    training events used, training seconds and steps, IER and the report's metrics."""
    experiment = params["experiment"]
    subset = subset_of(experiment)
    truth = truth_samples(primary_events, primary_objects, report, (subset,))[0][subset]
    n_cmp = len(truth["validation"])
    kw = {"n_bootstrap": int(curve["n_bootstrap"]), "folds": int(report["folds"]), "physics_distances": False}
    pv, floor = compare(truth["test"], truth["validation"], truth["edges"], int(seed), **kw)
    rows = [{"experiment": experiment, "run": FLOOR, "n_train_requested": np.nan, **_point(floor, pv)}]
    n_available = int((model_events["split"] == "train").sum())
    settings = {**params, **curve.get("training", {})}
    for n in training_sizes(n_available, curve["train_events"]):
        events, objects = subsample_training(model_events, model_objects, n, int(seed))
        # a backup folder of its own per size: an interrupted point resumes itself, never another run
        settings["backup_dir"] = f"{params['backup_dir']}/learning_curve/n_{n}"
        gen_events, gen_objects, training, stats = _train_and_generate(
            experiment,
            events,
            objects,
            scaler,
            float(value),
            int(seed),
            process,
            settings,
            max(int(curve["n_generate"]), n_cmp),
        )
        sample = Sample.from_tables(gen_events, gen_objects).head(n_cmp)
        pv, summary = compare(truth["test"], sample, truth["edges"], int(seed), **kw)
        rows.append(
            {
                "experiment": experiment,
                "run": f"{experiment} ({n} training events)",
                "n_train_requested": n,
                "n_train_used": _events_trained_on(training),
                "training_seconds": training.get("training_seconds"),
                "optimizer_steps": training.get("optimizer_steps"),
                "invalid_event_rate_percent": stats["invalid_event_rate_percent"],
                "invalid_event_rate_raw_percent": stats["invalid_event_rate_raw_percent"],
                **_point(summary, pv),
            }
        )
        log.info(
            "learning curve %s: %d training events -> AUC %.3f, IER %.2f %%",
            experiment,
            n,
            summary["auc_full"],
            stats["invalid_event_rate_percent"],
        )
    return pd.DataFrame(rows)


def plot_learning_curves(*curves: pd.DataFrame) -> tuple[pd.DataFrame, plt.Figure]:
    """All experiments' curves in one table and one figure: IER, full-event AUC and W1 of the
    target variables against the number of training events, floors as dashed lines."""
    table = pd.concat(curves, ignore_index=True)
    for column in table.columns.difference(["experiment", "run"]):  # CSV blanks (the floor's) -> NaN
        table[column] = pd.to_numeric(table[column].replace("", np.nan))
    panels = [
        ("invalid_event_rate_percent", "IER [%]"),
        ("auc_full", "full-event AUC"),
        *((f"w1_{v}", f"W1({v}) [σ]") for v in TARGET_VARIABLES),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for (column, label), ax in zip(panels, axes[0], strict=True):
        for k, (experiment, rows) in enumerate(table.groupby("experiment", sort=False)):
            points = rows[rows["n_train_requested"].notna()]
            colour = f"C{k}"
            err = points["auc_full_err"] if column == "auc_full" else None
            ax.errorbar(
                points["n_train_requested"], points[column], yerr=err, marker="o", color=colour, label=experiment
            )
            floor = rows.loc[rows["n_train_requested"].isna(), column]
            if column != "invalid_event_rate_percent" and len(floor):
                ax.axhline(float(floor.iloc[0]), ls="--", color=colour, lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("training events of the sample")
        ax.set_ylabel(label)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Learning curves (dashed: truth vs truth floor of each experiment's subset)")
    fig.tight_layout()
    return table, fig


def plot_learning_curve(curve: pd.DataFrame) -> plt.Figure:
    """One experiment's learning curve alone (``kedro run --pipeline=learning_curve_<exp>``)."""
    return plot_learning_curves(curve)[1]
