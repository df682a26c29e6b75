"""Nodes of the ``compare`` pipeline (issue #11, item 11): events of any generator (or another
Monte Carlo) in the Dark Machines format, evaluated against a truth file without training anything.

The truth file's events are split in two halves by a seeded permutation: the generated file is
compared with half A, and the floor compares half A with half B, so both see a truth sample of the
same size and the floor is the statistical limit of that comparison.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.datasets import DarkMachinesFile
from lhc_vae.evaluation.evaluate import Sample, binning
from lhc_vae.events.schema import EventTables, primary_tables
from lhc_vae.events.selection import invalid_event_rate
from lhc_vae.events.split import take_events
from lhc_vae.pipelines.report.nodes import ALL

log = logging.getLogger(__name__)


def _read(file: DarkMachinesFile) -> EventTables:
    """Every line of the file, or an error naming the first bad lines: a comparison on silently
    dropped events would not be a comparison of the file."""
    parsed = file.read()
    if parsed.n_rejected:
        first = "; ".join(f"line {r.line}: {r.reason}" for r in parsed.rejects.head(5).itertuples())
        raise ValueError(
            f"{file.path}: {parsed.n_rejected} of {parsed.n_lines} lines are malformed ({first}); fix or remove them"
        )
    if parsed.tables.n_events < 20:
        raise ValueError(f"{file.path} holds {parsed.tables.n_events} events; a comparison needs at least 20")
    return parsed.tables


def _subsample(tables: EventTables, index: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events at ``index`` (in file order) as primary tables."""
    return primary_tables(EventTables(*take_events(tables.events, tables.objects, np.sort(index))))


def truth_halves(
    truth_file: DarkMachinesFile, seed: int, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The truth file in two random halves (A: the truth, B: the floor's second sample), with the
    bins of every variable fixed from half A."""
    tables = _read(truth_file)
    perm = np.random.default_rng(int(seed)).permutation(tables.n_events)
    half = tables.n_events // 2
    a = Sample.from_tables(*_subsample(tables, perm[:half]))
    b = Sample.from_tables(*_subsample(tables, perm[half : 2 * half]))
    edges = binning(a, int(params["n_bins"]))
    log.info("compare: truth %s, %d + %d events", truth_file.path, len(a), len(b))
    binning_doc = {"n_bins": int(params["n_bins"]), "truth": str(truth_file.path), "edges": {ALL: edges}}
    return {ALL: {"test": a, "validation": b, "edges": edges}}, binning_doc


def generated_run(generated_file: DarkMachinesFile, params: dict[str, Any]) -> dict[str, Any]:
    """The generated file as a report run (its first ``max_events`` events), with its invalid
    event rate (thesis eq. 6.6)."""
    tables = _read(generated_file)
    n = min(tables.n_events, int(params["max_events"]))
    events, objects = _subsample(tables, np.arange(n))
    stats = {"invalid_event_rate_percent": invalid_event_rate(objects, n), "n_generated": tables.n_events}
    return {
        "label": generated_file.path.name,
        "subset": ALL,
        "sample": Sample.from_tables(events, objects),
        "stats": stats,
        "training": {},
    }
