"""Nodes of the ``preprocessing`` pipeline (thesis §7.1-7.2, issue #3).

raw Dark Machines file -> parsed tables + rejects -> primary tables (selection, split, positions)
-> scalers fitted on train -> model-ready features.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lhc_vae.cluster import default_workers
from lhc_vae.datasets import DarkMachinesFile, DarkMachinesFolder, DelphesFile
from lhc_vae.events.darkmachines import concat_chunks
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.schema import COUNT_COLUMNS, EventTables, primary_tables
from lhc_vae.events.selection import evaluate_selection
from lhc_vae.events.split import SPLITS, split_events

log = logging.getLogger(__name__)


class TooManyRejectsError(ValueError):
    """More lines were rejected than ``preprocessing.max_reject_fraction`` allows."""


def parse_raw_events(
    raw: DarkMachinesFile | DarkMachinesFolder | DelphesFile, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read the raw events into GeV tables, collecting every rejected line: a file streamed chunk by
    chunk, a folder of files with each file a Dask task (``preprocessing.n_workers`` processes, every
    core by default, or the cluster at ``preprocessing.scheduler``)."""
    start = time.perf_counter()
    chunks = []
    removed: dict[str, int] = {}
    files = getattr(raw, "files", (raw.path,))
    n_workers = default_workers(params.get("n_workers"), len(files))
    with tqdm(desc=f"parsing {raw.path.name}", unit=" lines", unit_scale=True) as bar:
        for chunk in raw.chunks(n_workers, params.get("scheduler")):
            chunks.append(chunk)
            bar.update(chunk.n_lines)
            for key, value in chunk.removed.items():
                removed[key] = removed.get(key, 0) + int(value)
    tables, rejects, n_lines = concat_chunks(chunks)
    seconds = time.perf_counter() - start
    stats = {
        "raw_file": str(raw.path),
        "raw_files": [str(f) for f in files],
        "parse_workers": n_workers if len(files) > 1 else 1,
        "n_lines": n_lines,
        "n_rejected": len(rejects),
        "reject_fraction": len(rejects) / n_lines if n_lines else 0.0,
        "rejects_by_reason": rejects["reason"].str.replace(r"^object \d+: ", "", regex=True).value_counts().to_dict(),
        "parse_seconds": seconds,
        "parse_events_per_second": tables.n_events / seconds if seconds > 0 else None,
        # what the reader removed on purpose (a Delphes file: the §3.1 cuts); empty for Dark Machines files
        "removed_by_reader": removed,
    }
    log.info("Parsed %d lines of %s: %d events, %d rejected", n_lines, raw.path, tables.n_events, len(rejects))
    return tables.events, tables.objects, rejects, stats


def check_reject_fraction(parse_stats: dict[str, Any], rejects: pd.DataFrame, max_fraction: float) -> None:
    """Fail with one sentence if more than ``max_fraction`` of the lines were rejected."""
    if parse_stats["n_lines"] == 0:
        raise TooManyRejectsError(f"{parse_stats['raw_file']} contains no lines; regenerate or replace it.")
    if parse_stats["reject_fraction"] > max_fraction:
        where = rejects.attrs.get("filepath", "the 'rejects' dataset of the catalog")
        raise TooManyRejectsError(
            f"{parse_stats['n_rejected']} of {parse_stats['n_lines']} lines of {parse_stats['raw_file']} "
            f"({100 * parse_stats['reject_fraction']:.3g} %) were rejected, more than "
            f"preprocessing.max_reject_fraction = {max_fraction}; the line-by-line report is {where}."
        )


def build_primary_tables(
    events: pd.DataFrame,
    objects: pd.DataFrame,
    rejects: pd.DataFrame,
    parse_stats: dict[str, Any],
    seed: int,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Check the rejects, then add multiplicities, the §3.1 selection, the split and pT ranks."""
    check_reject_fraction(parse_stats, rejects, float(params["max_reject_fraction"]))
    n = len(events)
    selection = evaluate_selection(objects, n)
    primary_events, primary_objects = primary_tables(EventTables(events, objects))
    primary_events = pd.concat([primary_events, selection], axis=1)
    primary_events["split"] = split_events(n, params["split"]["fractions"], int(seed))
    counts = primary_events[list(COUNT_COLUMNS.values())]
    report = {
        **parse_stats,
        "n_events": n,
        "n_objects": len(primary_objects),
        "n_failing_selection": int((~selection["passes_selection"]).sum()),
        "n_events_with_failing_objects": int((selection["n_failing_objects"] > 0).sum()),
        "n_events_without_trigger_object": int((~selection["has_trigger_object"]).sum()),
        "events_per_split": {s: int((primary_events["split"] == s).sum()) for s in SPLITS},
        "mean_multiplicity": {c: float(counts[c].mean()) if n else 0.0 for c in COUNT_COLUMNS.values()},
        "seed": int(seed),
    }
    if report["n_failing_selection"]:
        log.warning(
            "%d of %d events fail the thesis §3.1 selection (kept, flagged in passes_selection)",
            report["n_failing_selection"],
            n,
        )
    return primary_events, primary_objects, report


def _train_mask(events: pd.DataFrame, objects: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    is_train = events["split"] == "train"
    return is_train, is_train.to_numpy()[objects["event_index"].to_numpy()]


def fit_feature_scaler(events: pd.DataFrame, objects: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Fit the representation's transforms + standardisation on the training split only (thesis
    §7.3.1, §7.4.1; ``params["representation"]``: ``thesis`` or ``detector``, issue #12)."""
    ev_train, obj_train = _train_mask(events, objects)
    if not ev_train.any():
        raise ValueError("the training split is empty; raise preprocessing.split.fractions.train")
    scaler = FeatureScaler.fit(events[ev_train], objects[obj_train], params["representation"])
    outside, tachyons = scaler.counts["objects_outside_cuts"], scaler.counts["objects_e_below_p"]
    if scaler.representation == "detector" and (outside or tachyons):
        log.warning(
            "%d training objects fail their §3.1 cuts and %d have E < |p|: the detector representation moves them "
            "onto the cut (or to E = |p| + 1 MeV); they stay in the primary tables",
            outside,
            tachyons,
        )
    return scaler.to_dict()


def make_model_input(
    events: pd.DataFrame, objects: pd.DataFrame, scaler: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standardised features for the models, keyed by ``event_index`` and carrying the split."""
    fs = FeatureScaler.from_dict(scaler)
    keep_ev = ["event_index", "split", "met", "met_phi", *COUNT_COLUMNS.values(), "n_objects", "passes_selection"]
    framed_events, framed_objects = fs.to_frame(events[keep_ev], objects)
    model_events = fs.transform_events(framed_events)
    model_objects = fs.transform_objects(framed_objects)
    model_objects.insert(3, "split", events["split"].to_numpy()[objects["event_index"].to_numpy()])
    return model_events, model_objects
