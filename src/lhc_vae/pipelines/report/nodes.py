"""Nodes of the ``report`` pipelines (issue #11): generated runs against the whole test split.

The runs come from the catalog (their generated events, objects, statistics and training record
are node inputs), so ``kedro viz`` shows report <- generation <- training. The truth of a run is
the test split, restricted to the events its experiment models (experiment III: <= 4 jets,
<= 2 b-jets, nothing else); the floor compares the validation split with the test split, two
independent truth samples of the same size, on the same bins.
"""

from __future__ import annotations

import logging
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.evaluation.evaluate import CORRELATION_FEATURES, SEPARATION_METRICS, Sample, binning, compare, separation
from lhc_vae.evaluation.features import EVENT_VARIABLES
from lhc_vae.evaluation.plots import correlation_heatmaps, ratio_histogram, speed_bars
from lhc_vae.evaluation.report import png_base64, render_html
from lhc_vae.events.split import take_events
from lhc_vae.models.experiments import EXPERIMENTS
from lhc_vae.tags import FLOOR, floor_label, run_label

log = logging.getLogger(__name__)

ALL = "all events"


def subset_of(experiment: str) -> str:
    """Truth a run is compared with: single-model experiments restricted to what they model."""
    exp = EXPERIMENTS.get(experiment)
    return exp.name if exp is not None and exp.layout.restricts else ALL


def describe_subset(name: str) -> str:
    """The subset column: what the truth of a run holds (e.g. experiment III's events)."""
    return name if name == ALL else f"{name}: {EXPERIMENTS[name].layout.description}"


def _split_sample(events: pd.DataFrame, objects: pd.DataFrame, mask: np.ndarray) -> Sample:
    return Sample.from_tables(*take_events(events, objects, np.flatnonzero(mask)))


def truth_samples(
    primary_events: pd.DataFrame, primary_objects: pd.DataFrame, params: dict[str, Any], subsets: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per truth subset: the test split (the truth), the validation split (the floor's second
    sample) and the bin edges of every variable, fixed from the test split alone."""
    out, edges = {}, {}
    for name in subsets:
        keep = (
            np.ones(len(primary_events), dtype=bool) if name == ALL else EXPERIMENTS[name].layout.select(primary_events)
        )
        test = _split_sample(primary_events, primary_objects, (primary_events["split"] == "test").to_numpy() & keep)
        val = _split_sample(
            primary_events, primary_objects, (primary_events["split"] == "validation").to_numpy() & keep
        )
        if len(test) == 0:
            raise ValueError(
                f"the test split has no events in the subset {name!r}; the sample is too small to evaluate"
            )
        edges[name] = binning(test, int(params["n_bins"]))
        out[name] = {"test": test, "validation": val, "edges": edges[name]}
        log.info("report truth %s: %d test events, %d validation events", name, len(test), len(val))
    return out, {
        "n_bins": int(params["n_bins"]),
        "note": (
            "regular bins over the truth's 0.1-99.9 % range; "
            "the histograms add an absent bin, an underflow and an overflow bin"
        ),
        "edges": edges,
    }


def run_sample(
    events: pd.DataFrame, objects: pd.DataFrame, stats: dict[str, Any], training: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """One generated run as the report sees it: the first ``max_events`` events, its statistics,
    its training record, its label (``exp3/beta_1p5/normal``) and the truth subset it is compared with."""
    label = run_label(training, stats)
    n = min(len(events), int(params["max_events"]))
    if n < len(events):
        events = events.iloc[:n]
        objects = objects[objects["event_index"].to_numpy() < n]
    return {
        "label": label,
        "subset": subset_of(stats["experiment"]),
        "sample": Sample.from_tables(events, objects),
        "stats": stats,
        "training": training,
    }


def _effective_beta(training: dict[str, Any]) -> float | None:
    if "effective_beta" in training:
        return training["effective_beta"]
    components = training.get("components", {})
    values = {c.get("effective_beta") for c in components.values()} - {None}
    return values.pop() if len(values) == 1 else None


def _run_row(run: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    stats, training = run["stats"], run["training"]
    n_events = stats.get("n_generated", np.nan)
    n_objects = stats.get("mean_objects_per_event", np.nan) * n_events
    per = {
        "met_phi_wrapped": n_events
    }  # an event-level correction; the others are per object (clipping: values per object)
    corrections = {
        f"fraction_{k}": v / per.get(k, n_objects) if per.get(k, n_objects) else np.nan
        for k, v in stats.get("corrections", {}).items()
    }
    return {
        "run": run["label"],
        "subset": describe_subset(run["subset"]),
        "from_noise": stats.get("from_noise"),
        "prior": stats.get("latent_prior"),
        "beta": training.get("beta"),
        "effective_beta": _effective_beta(training),
        "invalid_event_rate_percent": stats.get("invalid_event_rate_percent"),
        "invalid_event_rate_raw_percent": stats.get("invalid_event_rate_raw_percent"),
        "ms_per_event_t1k": stats.get("ms_per_event_t1k"),
        "ms_per_event_steady": stats.get("ms_per_event_steady"),
        **corrections,
        **_flat(summary),
    }


def compute_metrics(
    truth: dict[str, Any], seed: int, params: dict[str, Any], *runs: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One row per run and one floor per truth subset (with uncertainties), per-variable rows, and
    the separation of every pair of runs and of every run from its floor (in combined sigmas)."""
    kw = {"n_bootstrap": int(params["n_bootstrap"]), "folds": int(params["folds"])}
    rows, per_variable, floors = [], [], {}
    for subset, t in truth.items():
        if not any(r["subset"] == subset for r in runs):
            continue
        pv, summary = compare(t["test"], t["validation"], t["edges"], int(seed), **kw)
        floors[subset] = summary
        rows.append({"run": FLOOR, "subset": describe_subset(subset), **_flat(summary)})
        per_variable.append(pv.assign(run=floor_label(subset)))
    summaries = {}
    for run in runs:
        t = truth[run["subset"]]
        # the same number of events as the floor's second sample: binned distances are biased by
        # the sample size (JS of a perfect 20k-event sample is below the 2k-vs-2k floor)
        n = len(t["validation"])
        if len(run["sample"]) < n:
            raise ValueError(
                f"{run['label']} has {len(run['sample'])} events, "
                f"fewer than the {n} truth events of the floor it is compared "
                "with; generate at least as many (an experiment's *_generate pipeline with --params n_generate=N)"
            )
        pv, summary = compare(t["test"], run["sample"].head(n), t["edges"], int(seed), **kw)
        summaries[run["label"]] = (run["subset"], summary)
        row = _run_row(run, summary)
        floor = floors[run["subset"]]
        beyond = [k for k in SEPARATION_METRICS if separation(summary, floor, k) > 2]
        row["beyond_floor"] = ", ".join(beyond) if beyond else "none"
        rows.append(row)
        per_variable.append(pv.assign(run=run["label"]))
        log.info("report: %s (%s): AUC %.3f, JS %.3f", run["label"], run["subset"], summary["auc_full"], summary["js"])
    metrics = pd.DataFrame(rows)
    # ranked within a truth subset: runs compared with different truths are not comparable
    metrics.insert(
        1,
        "rank_auc_full",
        metrics["auc_full"].where(metrics["run"] != FLOOR).groupby(metrics["subset"]).rank(method="min"),
    )
    pairs = []
    for (a, (sa, ma)), (b, (sb, mb)) in combinations(summaries.items(), 2):
        if sa != sb:
            continue  # different truth subsets are not comparable
        for k in SEPARATION_METRICS:
            z = separation(ma, mb, k)
            pairs.append(
                {
                    "run_a": a,
                    "run_b": b,
                    "metric": k,
                    "a": ma[k],
                    "b": mb[k],
                    "difference": ma[k] - mb[k],
                    "sigmas": z,
                    "distinguishable": bool(abs(z) > 2),
                }
            )
    return (
        metrics,
        pd.concat(per_variable, ignore_index=True),
        pd.DataFrame(pairs, columns=["run_a", "run_b", "metric", "a", "b", "difference", "sigmas", "distinguishable"]),
    )


def _flat(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if not isinstance(v, dict)}


def metrics_records(metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """The metrics table as JSON records."""
    return metrics.replace({np.nan: None}).to_dict(orient="records")


def report_figures(
    truth: dict[str, Any], params: dict[str, Any], process: str, *runs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Ratio histograms of the thesis variables on the truth's bins and correlation heatmaps,
    per truth subset; as figures (saved as PNG) and as base64 PNGs (embedded in the HTML)."""
    figures = {}
    variables = list(EVENT_VARIABLES) + list(params["histogram_variables"])
    for subset, t in truth.items():
        samples = {r["label"]: r["sample"].variables for r in runs if r["subset"] == subset}
        if not samples:
            continue
        slug = subset.replace(" ", "_")
        for variable in variables:
            if variable in t["edges"]:
                figures[f"{slug}/hist_{variable}.png"] = ratio_histogram(
                    t["test"].variables, samples, variable, np.asarray(t["edges"][variable]), process
                )
        figures[f"{slug}/correlations.png"] = correlation_heatmaps(t["test"].variables, samples, CORRELATION_FEATURES)
    return figures, {name: png_base64(fig) for name, fig in figures.items()}


def render_report(
    metrics: pd.DataFrame,
    per_variable: pd.DataFrame,
    pairs: pd.DataFrame,
    images: dict[str, str],
    benchmark: dict[str, Any] | None,
    process: str,
    source: str,
    truth: str,
    n_bins: int,
    thesis_tables: dict[str, list[dict[str, Any]]],
) -> str:
    """The self-contained HTML report (images embedded as base64); ``truth`` says what the truth
    and the floor are; ``thesis_tables`` the thesis's published rows per process (reference rows)."""
    images = dict(images)
    models = {name: v["one_core"] for name, v in (benchmark or {}).get("models", {}).items() if "one_core" in v}
    if models:
        speeds = {"MC (Pythia8 + detector)": benchmark["mc"]["ms_per_event_per_core"]}
        speeds.update({name: v["ms_per_event_steady"] for name, v in models.items()})
        images["benchmark: ms per event"] = png_base64(speed_bars(speeds, "generation time per event, one core each"))
    published = (thesis_tables or {}).get(process, [])
    return render_html(process, source, metrics, per_variable, pairs, images, benchmark, truth, int(n_bins), published)
