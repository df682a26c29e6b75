"""Deterministic train / validation / test split by event."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lhc_vae.events.schema import TYPE_DTYPE, EventTables

SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_DTYPE = pd.CategoricalDtype(categories=list(SPLITS))


def split_events(n_events: int, fractions: dict[str, float], seed: int) -> pd.Categorical:
    """Assign each of ``n_events`` events to a split.

    A seeded permutation gives exactly round(fraction * n) events to validation and test
    (the rest to train), so the same ``n_events``, fractions and seed give the same split.
    """
    unknown = set(fractions) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split names {sorted(unknown)}; expected {list(SPLITS)}")
    total = sum(fractions.values())
    if not np.isclose(total, 1.0) or min(fractions.values()) < 0:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions} (sum {total})")
    n_val = round(fractions.get("validation", 0.0) * n_events)
    n_test = round(fractions.get("test", 0.0) * n_events)
    labels = np.empty(n_events, dtype=object)
    perm = np.random.default_rng(seed).permutation(n_events)
    labels[perm[:n_test]] = "test"
    labels[perm[n_test : n_test + n_val]] = "validation"
    labels[perm[n_test + n_val :]] = "train"
    return pd.Categorical(labels, dtype=SPLIT_DTYPE)


def split_tables(
    events: pd.DataFrame, objects: pd.DataFrame, split: str, keep: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events of one split (optionally also passing ``keep``) and their objects."""
    mask = (events["split"] == split).to_numpy()
    if keep is not None:
        mask = mask & keep
    ev = events[mask]
    return ev, objects[objects["event_index"].isin(ev["event_index"]).to_numpy()]


def take_events(events: pd.DataFrame, objects: pd.DataFrame, rows: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events at the positions ``rows`` (in that order) and their objects, renumbered so that
    event ``k`` of the result is row ``k`` and its objects carry ``event_index`` k. The objects'
    ``event_index`` must be the events' row numbers, as in the primary and ``EventTables`` tables."""
    rows = np.asarray(rows)
    new_index = pd.Series(np.arange(len(rows)), index=rows)
    obj = objects[objects["event_index"].isin(rows).to_numpy()]
    obj = obj.assign(event_index=new_index.reindex(obj["event_index"].to_numpy()).to_numpy()).reset_index(drop=True)
    ev = events.iloc[rows].reset_index(drop=True)
    if "event_index" in ev.columns:
        ev["event_index"] = np.arange(len(rows), dtype=ev["event_index"].dtype)
    return ev, obj


def concat_tables(parts: list[EventTables]) -> EventTables:
    """Samples one after the other: event k of part i becomes row (events before part i) + k, and
    its objects' ``event_index`` follows (the inverse of cutting a sample with :func:`take_events`)."""
    offsets = np.cumsum([0, *(p.n_events for p in parts[:-1])])
    objects = [p.objects.assign(event_index=p.objects["event_index"] + o) for p, o in zip(parts, offsets, strict=True)]
    obj = pd.concat(objects, ignore_index=True)
    obj["type"] = obj["type"].astype(TYPE_DTYPE)
    return EventTables(pd.concat([p.events for p in parts], ignore_index=True), obj)
