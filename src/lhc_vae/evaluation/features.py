"""Per-event variables compared between truth and generated samples (thesis ch. 6, §7.3.3).

The thesis compares MET, MET phi, the total energy and the leading objects (first and second
jet, first and second lepton, first photon). Jets here are j and b together, leptons e and mu of
both charges, ordered by pT. Derived observables: HT, m(jj) of the two leading jets, the hadronic
top candidate m(bjj) and Delta phi(MET, leading jet).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lhc_vae.events.observables import four_momenta, hadronic_top_candidates, ht, invariant_mass
from lhc_vae.events.schema import COUNT_COLUMNS, OBJECT_FEATURES, SYMBOLS, wrap_phi

#: Object groups of the thesis plots: (name, symbols, pT rank).
GROUPS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("jet1", ("j", "b"), 0),
    ("jet2", ("j", "b"), 1),
    ("lepton1", ("e-", "e+", "m-", "m+"), 0),
    ("lepton2", ("e-", "e+", "m-", "m+"), 1),
    ("photon1", ("g",), 0),
)
#: Event-level variables of the thesis, counted as one group weighted by the number of events.
EVENT_VARIABLES = ("met", "met_phi", "total_energy")
#: Variables compared in log10 (thesis §7.2).
LOG_VARIABLES = frozenset(
    {"met", "total_energy", "ht", "m_jj", "m_top"} | {f"{g}_{f}" for g, _, _ in GROUPS for f in ("e", "pt")}
)
DERIVED = ("ht", "m_jj", "m_top", "dphi_met_jet1")
#: Objects per event kept by the full-event classifier: the 19-object cap of thesis §7.3.2.
MAX_OBJECTS = 19
#: Per-object columns of the full-event representation, in this order.
FULL_EVENT_OBJECT_COLUMNS = ("type", "log10_pt", "eta", "phi", "log10_e")


def _ranked(objects: pd.DataFrame, symbols: tuple[str, ...]) -> pd.DataFrame:
    sel = objects[objects["type"].isin(symbols).to_numpy()]
    sel = sel.sort_values(["event_index", "pt"], ascending=[True, False], kind="stable")
    return sel.assign(rank=sel.groupby("event_index").cumcount().to_numpy())


def event_variables(events: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """One row per event: MET, MET phi, total energy, counts, leading-object features, derived
    observables. Missing objects give NaN."""
    n = len(events)
    out = pd.DataFrame(
        {
            "met": events["met"].to_numpy(np.float64),
            "met_phi": events["met_phi"].to_numpy(np.float64),
            "total_energy": np.bincount(objects["event_index"], weights=objects["e"].astype(float), minlength=n),
        }
    )
    for col in COUNT_COLUMNS.values():
        if col in events:
            out[col] = events[col].to_numpy()
    jets = None
    for name, symbols, rank in GROUPS:
        ranked = _ranked(objects, symbols)
        if name == "jet1":
            jets = ranked
        pick = ranked[ranked["rank"] == rank]
        for f in OBJECT_FEATURES:
            col = np.full(n, np.nan)
            col[pick["event_index"].to_numpy()] = pick[f].to_numpy(np.float64)
            out[f"{name}_{f}"] = col
    out["ht"] = ht(objects, n)
    m_jj = np.full(n, np.nan)
    lead2 = jets[jets["rank"] < 2]
    two = lead2.groupby("event_index").size()
    two = two[two == 2].index.to_numpy()
    pair = lead2[lead2["event_index"].isin(two)].sort_values(["event_index", "rank"])
    p4 = four_momenta(pair)
    if len(p4):
        m_jj[two] = invariant_mass(p4[0::2] + p4[1::2])
    out["m_jj"] = m_jj
    out["m_top"] = hadronic_top_candidates(objects, n)["m_top"].to_numpy()
    out["dphi_met_jet1"] = np.abs(wrap_phi(out["met_phi"].to_numpy() - out["jet1_phi"].to_numpy()))
    return out


def variable_values(variables: pd.DataFrame, column: str) -> np.ndarray:
    """One value per event (NaN where the event has no such object), in log10 where the thesis
    compares logs (§7.2)."""
    x = variables[column].to_numpy(np.float64)
    x = np.where(np.isfinite(x), x, np.nan)
    if column in LOG_VARIABLES:
        x = np.log10(np.maximum(x, 1e-3))
    return x


def full_event_matrix(events: pd.DataFrame, objects: pd.DataFrame, max_objects: int = MAX_OBJECTS) -> np.ndarray:
    """The whole event as one row (issue #11, item 5): for each of the ``max_objects`` leading
    objects (all types together, in pT order) its type code (index in ``SYMBOLS``), log10 pT, eta,
    phi and log10 E; then log10 MET and phi(MET). Absent objects are NaN, so the classifier sees
    multiplicities as well as kinematics. Columns: :func:`full_event_columns`."""
    n = len(events)
    width = len(FULL_EVENT_OBJECT_COLUMNS)
    x = np.full((n, max_objects * width + 2), np.nan)
    ev = objects["event_index"].to_numpy()
    pt = objects["pt"].to_numpy(np.float64)
    order = np.lexsort((-pt, ev))
    ev = ev[order]
    new_event = np.ones(len(ev), dtype=bool)
    new_event[1:] = ev[1:] != ev[:-1]
    start = np.maximum.accumulate(np.where(new_event, np.arange(len(ev)), 0))
    rank = np.arange(len(ev)) - start
    keep = rank < max_objects
    rows, base = ev[keep], rank[keep] * width
    sel = order[keep]
    codes = pd.Categorical(objects["type"].astype(str), categories=list(SYMBOLS)).codes.astype(np.float64)
    values = (
        codes[sel],
        np.log10(np.maximum(pt[sel], 1e-3)),
        objects["eta"].to_numpy(np.float64)[sel],
        objects["phi"].to_numpy(np.float64)[sel],
        np.log10(np.maximum(objects["e"].to_numpy(np.float64)[sel], 1e-3)),
    )
    for k, v in enumerate(values):
        x[rows, base + k] = v
    x[:, -2] = np.log10(np.maximum(events["met"].to_numpy(np.float64), 1e-3))
    x[:, -1] = events["met_phi"].to_numpy(np.float64)
    return x


def full_event_categorical(max_objects: int = MAX_OBJECTS) -> np.ndarray:
    """Which columns of :func:`full_event_matrix` hold object type codes (the classifiers' categorical features)."""
    width = len(FULL_EVENT_OBJECT_COLUMNS)
    categorical = np.zeros(max_objects * width + 2, dtype=bool)
    categorical[: max_objects * width : width] = True
    return categorical


def full_event_columns(max_objects: int = MAX_OBJECTS) -> list[str]:
    """Names of the columns of :func:`full_event_matrix`."""
    return [f"obj{k}_{c}" for k in range(max_objects) for c in FULL_EVENT_OBJECT_COLUMNS] + ["log10_met", "met_phi"]
