"""How an event becomes model arrays and back, per experiment (thesis §7.3.1, §7.6.1).

A layout turns the standardised model-input tables (one row per event, one row per object)
into the named arrays a Keras model eats, and turns decoder outputs back into tables. Both
directions are vectorised over events; no Python loop over events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lhc_vae.events.schema import COUNT_COLUMNS, OBJECT_FEATURES, SYMBOLS, TYPE_DTYPE

MET_FEATURES = ("met", "met_phi")


def _met_array(events: pd.DataFrame) -> np.ndarray:
    return events[list(MET_FEATURES)].to_numpy(np.float32)


def _events_frame(met: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"met": met[:, 0].astype(np.float64), "met_phi": met[:, 1].astype(np.float64)})


def _objects_frame(event_index: np.ndarray, type_codes: np.ndarray, features: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "event_index": event_index.astype(np.int64),
            "type": pd.Categorical.from_codes(type_codes.astype(np.int8), dtype=TYPE_DTYPE),
        }
    )
    for k, f in enumerate(OBJECT_FEATURES):
        frame[f] = features[:, k].astype(np.float32)
    return frame


def _slot_of_objects(
    events: pd.DataFrame, objects: pd.DataFrame, order_codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row of each object's event and its slot when objects are laid out by (type, pT rank)."""
    row_of_event = pd.Series(np.arange(len(events)), index=events["event_index"].to_numpy())
    rows = row_of_event.reindex(objects["event_index"].to_numpy()).to_numpy()
    key = np.lexsort((objects["position"].to_numpy(), order_codes, rows))
    rows_sorted = rows[key]
    start = np.r_[0, np.flatnonzero(rows_sorted[1:] != rows_sorted[:-1]) + 1]
    first = np.zeros(len(rows_sorted), dtype=np.int64)
    first[start] = start
    first = np.maximum.accumulate(first)
    slot = np.empty(len(rows), dtype=np.int64)
    slot[key] = np.arange(len(rows)) - first
    return rows, slot


@dataclass(frozen=True)
class WholeEventLayout:
    """Baseline (thesis §7.3.1): MET pair, K object slots with a one-hot type (7 symbols plus a
    padding class) and 4 features (log10 E, log10 pT, eta, phi; standardised), zero-padded."""

    max_objects: int = 19
    #: The layout models every event (no event filter).
    restricts = False

    @property
    def n_classes(self) -> int:
        return len(SYMBOLS) + 1

    def select(self, events: pd.DataFrame) -> np.ndarray:
        """Every event is kept; objects beyond ``max_objects`` are cut."""
        return np.ones(len(events), dtype=bool)

    def to_arrays(self, events: pd.DataFrame, objects: pd.DataFrame) -> dict[str, np.ndarray]:
        n, k = len(events), self.max_objects
        codes = objects["type"].cat.codes.to_numpy()
        rows, slot = _slot_of_objects(events, objects, codes)
        keep = slot < k
        types = np.zeros((n, k, self.n_classes), dtype=np.float32)
        types[:, :, -1] = 1.0
        types[rows[keep], slot[keep], -1] = 0.0
        types[rows[keep], slot[keep], codes[keep]] = 1.0
        feats = np.zeros((n, k, 4), dtype=np.float32)
        feats[rows[keep], slot[keep]] = objects[list(OBJECT_FEATURES)].to_numpy(np.float32)[keep]
        return {"met": _met_array(events), "types": types, "features": feats}

    def from_arrays(self, arrays: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Decoder outputs -> (events, objects) in standardised units; argmax picks the type."""
        cls = np.argmax(arrays["types"], axis=-1)
        ev, sl = np.nonzero(cls != self.n_classes - 1)
        objects = _objects_frame(ev, cls[ev, sl], arrays["features"][ev, sl])
        return _events_frame(arrays["met"]), objects


@dataclass(frozen=True)
class JetsLayout:
    """Experiment III (thesis §7.6.1): events with <= 4 jets, <= 2 b-jets and nothing else.

    Inputs: the MET pair, one array per jet slot (j1..j4) and b-jet slot (b1, b2) with the four
    standardised features (zeros when absent), and the 6-entry presence mask (j1..j4, b1, b2).
    """

    n_jets: int = 4
    n_bjets: int = 2
    #: The layout models only a subset of the events (see :meth:`select`).
    restricts = True

    @property
    def description(self) -> str:
        """The events it models, as the report's subset column says it."""
        return f"≤ {self.n_jets} j, ≤ {self.n_bjets} b, nothing else"

    @property
    def slots(self) -> list[tuple[str, str, int]]:
        """(array name, symbol, pT rank) of every particle slot."""
        return [(f"j{i + 1}", "j", i) for i in range(self.n_jets)] + [
            (f"b{i + 1}", "b", i) for i in range(self.n_bjets)
        ]

    def select(self, events: pd.DataFrame) -> np.ndarray:
        others = [COUNT_COLUMNS[s] for s in SYMBOLS if s not in ("j", "b")]
        return (
            (events[COUNT_COLUMNS["j"]] <= self.n_jets)
            & (events[COUNT_COLUMNS["b"]] <= self.n_bjets)
            & (events[others].sum(axis=1) == 0)
        ).to_numpy()

    def to_arrays(self, events: pd.DataFrame, objects: pd.DataFrame) -> dict[str, np.ndarray]:
        n = len(events)
        row_of_event = pd.Series(np.arange(n), index=events["event_index"].to_numpy())
        rows = row_of_event.reindex(objects["event_index"].to_numpy()).to_numpy()
        inside = ~np.isnan(rows)
        obj = objects[inside]
        rows = rows[inside].astype(np.int64)
        arrays: dict[str, np.ndarray] = {"met": _met_array(events)}
        mask = np.zeros((n, len(self.slots)), dtype=np.float32)
        feats = obj[list(OBJECT_FEATURES)].to_numpy(np.float32)
        for s, (name, symbol, rank) in enumerate(self.slots):
            sel = ((obj["type"] == symbol) & (obj["position"] == rank)).to_numpy()
            a = np.zeros((n, 4), dtype=np.float32)
            a[rows[sel]] = feats[sel]
            arrays[name] = a
            mask[rows[sel], s] = 1.0
        arrays["mask"] = mask
        return arrays

    def from_arrays(self, arrays: dict[str, np.ndarray], threshold: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Decoder outputs -> (events, objects); a slot exists where its mask output > threshold."""
        present = arrays["mask"] > threshold
        parts = []
        for s, (name, symbol, _) in enumerate(self.slots):
            ev = np.flatnonzero(present[:, s])
            parts.append(_objects_frame(ev, np.full(ev.size, SYMBOLS.index(symbol)), arrays[name][ev]))
        objects = pd.concat(parts, ignore_index=True).sort_values("event_index", kind="stable").reset_index(drop=True)
        return _events_frame(arrays["met"]), objects
