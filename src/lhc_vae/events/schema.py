"""The event and object tables every part of the project shares (thesis §3.2, Table 3.1).

Inside the project an event sample is two tables, both in GeV:

* ``events``: one row per event; the row number is the event's ``event_index``.
* ``objects``: one row per reconstructed object, linked to its event by ``event_index``,
  with ``position`` the object's pT rank (0 = leading) among the objects of its type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Object symbols of the Dark Machines files, in the order of thesis Table 3.1.
SYMBOLS: tuple[str, ...] = ("j", "b", "e-", "e+", "m-", "m+", "g")

#: Column-safe name of each symbol (``e-`` cannot be a Python identifier).
SYMBOL_SLUG: dict[str, str] = {
    "j": "j",
    "b": "b",
    "e-": "em",
    "e+": "ep",
    "m-": "mm",
    "m+": "mp",
    "g": "g",
}

#: Per-event multiplicity column of each symbol.
COUNT_COLUMNS: dict[str, str] = {s: f"n_{SYMBOL_SLUG[s]}" for s in SYMBOLS}

#: Object families in Dark Machines line order: jets (j and b interleaved by pT),
#: then electrons, muons and photons (thesis §3.2).
FAMILY: dict[str, int] = {"j": 0, "b": 0, "e-": 1, "e+": 1, "m-": 2, "m+": 2, "g": 3}

#: Kinematic features of an object, in Dark Machines order (E, pT, eta, phi).
OBJECT_FEATURES: tuple[str, ...] = ("e", "pt", "eta", "phi")

#: Event-level columns read from the first five fields of a line.
EVENT_COLUMNS: tuple[str, ...] = ("event_id", "process_id", "weight", "met", "met_phi")

#: The Dark Machines files are in MeV; the project works in GeV.
MEV_PER_GEV = 1000.0

#: Ordered categorical dtype of the ``type`` column.
TYPE_DTYPE = pd.CategoricalDtype(categories=list(SYMBOLS), ordered=True)


def object_types(values: Any, where: str, first_row: int = 0) -> pd.Categorical:
    """A stored ``type`` column (strings or a categorical) as :data:`TYPE_DTYPE`; a symbol that is not
    one of :data:`SYMBOLS` is an error naming ``where`` and the row, never a silent missing type."""
    text = pd.Series(values).astype(str).to_numpy()
    known = np.isin(text, SYMBOLS)
    if not known.all():
        k = int(np.argmin(known))
        raise ValueError(f"{where}, row {first_row + k}: object type {text[k]!r} is not one of {', '.join(SYMBOLS)}")
    return pd.Categorical(text, dtype=TYPE_DTYPE)


@dataclass(frozen=True)
class EventTables:
    """An event sample: the events table and its objects table (both GeV)."""

    events: pd.DataFrame
    objects: pd.DataFrame

    def __post_init__(self) -> None:
        missing = [c for c in ("met", "met_phi") if c not in self.events.columns]
        missing += [c for c in ("event_index", "type", *OBJECT_FEATURES) if c not in self.objects.columns]
        if missing:
            raise KeyError(f"EventTables is missing columns: {', '.join(missing)}")

    @property
    def n_events(self) -> int:
        return len(self.events)


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Map azimuthal angles onto [-pi, pi]."""
    phi = np.asarray(phi, dtype=np.float64)
    return np.arctan2(np.sin(phi), np.cos(phi))


def object_positions(objects: pd.DataFrame) -> np.ndarray:
    """pT rank (0 = leading) of each object among the objects of its type in its event."""
    order = np.lexsort(
        (-objects["pt"].to_numpy(), objects["type"].cat.codes.to_numpy(), objects["event_index"].to_numpy())
    )
    ev = objects["event_index"].to_numpy()[order]
    ty = objects["type"].cat.codes.to_numpy()[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (ev[1:] != ev[:-1]) | (ty[1:] != ty[:-1])
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
    positions = np.empty(len(order), dtype=np.int16)
    positions[order] = np.arange(len(order)) - group_start
    return positions


def multiplicities(objects: pd.DataFrame, n_events: int) -> pd.DataFrame:
    """Number of objects of each type per event, one ``n_<symbol>`` column per symbol."""
    counts = np.zeros((n_events, len(SYMBOLS)), dtype=np.int16)
    np.add.at(counts, (objects["event_index"].to_numpy(), objects["type"].cat.codes.to_numpy()), 1)
    return pd.DataFrame(counts, columns=[COUNT_COLUMNS[s] for s in SYMBOLS])


def primary_tables(tables: EventTables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events and objects tables in their stored form.

    Events gain ``event_index`` (the row), one ``n_<symbol>`` count per type and ``n_objects``;
    objects gain ``position``, the pT rank within their type.
    """
    n = tables.n_events
    counts = multiplicities(tables.objects, n)
    events = pd.concat(
        [
            pd.DataFrame({"event_index": np.arange(n, dtype=np.int64)}),
            tables.events.reset_index(drop=True),
            counts,
            pd.DataFrame({"n_objects": counts.sum(axis=1).astype(np.int16)}),
        ],
        axis=1,
    )
    objects = tables.objects[["event_index", "type", *OBJECT_FEATURES]]
    objects.insert(1, "position", object_positions(tables.objects))
    return events, objects
