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
from lhc_vae.events.schema import COUNT_COLUMNS, OBJECT_FEATURES, wrap_phi

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
LOG_VARIABLES = frozenset({"met", "total_energy", "ht", "m_jj", "m_top"} | {f"{g}_{f}" for g, _, _ in GROUPS for f in ("e", "pt")})
DERIVED = ("ht", "m_jj", "m_top", "dphi_met_jet1")


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


def comparison_values(variables: pd.DataFrame, column: str) -> np.ndarray:
    """Finite values of a variable, in log10 where the thesis compares logs."""
    x = variables[column].to_numpy(np.float64)
    x = x[np.isfinite(x)]
    if column in LOG_VARIABLES:
        x = np.log10(np.maximum(x, 1e-3))
    return x
