"""Nodes of the ``report`` pipeline (issue #7): every run of the process against held-out truth."""

from __future__ import annotations

import base64
import logging
from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.evaluation.evaluate import CORRELATION_FEATURES, compare, truth_halves
from lhc_vae.evaluation.features import EVENT_VARIABLES, event_variables
from lhc_vae.evaluation.plots import correlation_heatmaps, ratio_histogram, speed_bars
from lhc_vae.evaluation.report import png_base64, render_html
from lhc_vae.evaluation.runs import GeneratedRun
from lhc_vae.models.experiments import EXPERIMENTS

log = logging.getLogger(__name__)

ALL = "all events"


def _subset(run: GeneratedRun) -> str:
    """Truth a run is compared with: single-model experiments restricted to what they model."""
    exp = EXPERIMENTS.get(run.experiment)
    return exp.name if exp is not None and exp.layout.restricts else ALL


def collect_samples(
    runs: list[GeneratedRun],
    primary_events: pd.DataFrame,
    primary_objects: pd.DataFrame,
    seed: int,
    params: dict[str, Any],
    *awaited: Any,
) -> dict[str, Any]:
    """Event variables of the test-split truth (two halves per subset) and of every run.

    ``awaited``: generation statistics of runs made in the same ``kedro run``; they only order
    the report after those runs (the runs themselves are found on disk).
    """
    if not runs:
        raise ValueError(
            "no generated events found for this process; run an experiment first, e.g. `kedro run --pipeline=exp3`"
        )
    test = (primary_events["split"] == "test").to_numpy()
    masks = {ALL: test}
    for run in runs:
        name = _subset(run)
        if name not in masks:
            masks[name] = test & EXPERIMENTS[name].layout.select(primary_events)
    truth: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for name, mask in masks.items():
        ev = primary_events[mask].reset_index(drop=True)
        index = pd.Series(np.arange(len(ev)), index=primary_events.loc[mask, "event_index"].to_numpy())
        obj = primary_objects[primary_objects["event_index"].isin(index.index).to_numpy()]
        obj = obj.assign(event_index=index.reindex(obj["event_index"].to_numpy()).to_numpy())
        truth[name] = truth_halves(event_variables(ev, obj), int(seed))
    samples = {}
    for run in runs:
        half = len(truth[_subset(run)][1])
        events, objects = run.tables(max_events=min(half, int(params["max_events"])))
        samples[run.run_id] = {"subset": _subset(run), "variables": event_variables(events, objects), "stats": run.stats}
        log.info("report: %s, %d generated events against %d truth events", run.run_id, len(events), half)
    return {"truth": truth, "runs": samples}


def compute_metrics(samples: dict[str, Any], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per run (and one truth-vs-truth floor per truth subset), plus per-variable rows."""
    rows, per_variable = [], []
    for subset, (half_a, half_b) in samples["truth"].items():
        pv, summary = compare(half_a, half_b, int(seed))
        rows.append({"run": "truth vs truth (floor)", "subset": subset, **_flat(summary)})
        per_variable.append(pv.assign(run=f"floor ({subset})"))
    for run_id, sample in samples["runs"].items():
        half_a = samples["truth"][sample["subset"]][0]
        pv, summary = compare(half_a, sample["variables"], int(seed))
        stats = sample["stats"]
        rows.append(
            {
                "run": run_id,
                "subset": sample["subset"],
                "from_noise": stats.get("from_noise"),
                "invalid_event_rate_percent": stats.get("invalid_event_rate_percent"),
                "ms_per_event_t1k": stats.get("ms_per_event_t1k"),
                "ms_per_event_steady": stats.get("ms_per_event_steady"),
                **_flat(summary),
            }
        )
        per_variable.append(pv.assign(run=run_id))
    return pd.DataFrame(rows), pd.concat(per_variable, ignore_index=True)


def _flat(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if not isinstance(v, dict)}


def metrics_records(metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """The metrics table as JSON records."""
    return metrics.replace({np.nan: None}).to_dict(orient="records")


def report_figures(samples: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Ratio histograms of the thesis variables and correlation heatmaps, per truth subset;
    returned as figures (saved as PNG files) and as base64 PNGs (embedded in the HTML)."""
    figures = {}
    variables = list(EVENT_VARIABLES) + list(params["histogram_variables"])
    for subset, (half_a, _) in samples["truth"].items():
        runs = {rid: s["variables"] for rid, s in samples["runs"].items() if s["subset"] == subset}
        if not runs:
            continue
        slug = subset.replace(" ", "_")
        for variable in variables:
            figures[f"{slug}/hist_{variable}.png"] = ratio_histogram(half_a, runs, variable)
        figures[f"{slug}/correlations.png"] = correlation_heatmaps(half_a, runs, CORRELATION_FEATURES)
    return figures, {name: png_base64(fig) for name, fig in figures.items()}


def render_report(
    metrics: pd.DataFrame,
    per_variable: pd.DataFrame,
    images: dict[str, str],
    runs: list[GeneratedRun],
    benchmark: dict[str, Any] | None,
    process: str,
    source: str,
) -> str:
    """The self-contained HTML report (images embedded as base64)."""
    images = dict(images)
    for run in runs:
        for name, path in run.images().items():
            images[f"{run.run_id}: {name}"] = base64.b64encode(path.read_bytes()).decode()
    if benchmark and benchmark.get("models"):
        speeds = {"MC (Pythia8 + detector)": benchmark["mc"]["ms_per_event_per_core"]}
        speeds.update({name: v["ms_per_event_steady"] for name, v in benchmark["models"].items()})
        images["benchmark: ms per event"] = png_base64(speed_bars(speeds, "generation time per event"))
    return render_html(process, source, metrics, per_variable, images, benchmark)
