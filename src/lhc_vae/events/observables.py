"""Derived observables of an event sample (GeV): four-momenta, HT, m(jj), hadronic top candidate."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

W_MASS = 80.4  # GeV, PDG
TOP_MASS = 172.5  # GeV, PDG


def four_momenta(objects: pd.DataFrame) -> np.ndarray:
    """(E, px, py, pz) of each object, shape (n, 4)."""
    pt = objects["pt"].to_numpy(np.float64)
    eta = objects["eta"].to_numpy(np.float64)
    phi = objects["phi"].to_numpy(np.float64)
    return np.column_stack([objects["e"].to_numpy(np.float64), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)])


def invariant_mass(p: np.ndarray) -> np.ndarray:
    """Invariant mass of summed four-momenta ``p[..., 4]`` (negative m^2 clipped to 0)."""
    m2 = p[..., 0] ** 2 - p[..., 1] ** 2 - p[..., 2] ** 2 - p[..., 3] ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def ht(objects: pd.DataFrame, n_events: int) -> np.ndarray:
    """Scalar sum of jet and b-jet pT per event."""
    jets = objects[objects["type"].isin(["j", "b"])]
    return np.bincount(jets["event_index"], weights=jets["pt"].astype(float), minlength=n_events)


def hadronic_top_candidates(objects: pd.DataFrame, n_events: int) -> pd.DataFrame:
    """Per event with >= 2 light jets and >= 1 b-jet: the W candidate (the light-jet pair with
    mass closest to 80.4 GeV) and the top candidate (that pair plus the b-jet closest to it in
    Delta R, so the top mass is not chosen to sit at 172.5 GeV). NaN where not available."""
    m_w = np.full(n_events, np.nan)
    m_top = np.full(n_events, np.nan)
    p4 = four_momenta(objects)
    types = objects["type"].astype(str).to_numpy()
    eta = objects["eta"].to_numpy(np.float64)
    phi = objects["phi"].to_numpy(np.float64)
    order = np.argsort(objects["event_index"].to_numpy(), kind="stable")
    ev = objects["event_index"].to_numpy()[order]
    bounds = np.flatnonzero(np.r_[True, ev[1:] != ev[:-1], True])
    for a, b in itertools.pairwise(bounds):
        idx = order[a:b]
        light = idx[types[idx] == "j"]
        bjets = idx[types[idx] == "b"]
        if light.size < 2 or bjets.size < 1:
            continue
        i, j = np.triu_indices(light.size, 1)
        pair = p4[light[i]] + p4[light[j]]
        best = np.argmin(np.abs(invariant_mass(pair) - W_MASS))
        w = pair[best]
        w_pt = np.hypot(w[1], w[2])
        w_eta, w_phi = np.arcsinh(w[3] / w_pt), np.arctan2(w[2], w[1])
        dr = np.hypot(eta[bjets] - w_eta, np.angle(np.exp(1j * (phi[bjets] - w_phi))))
        top = w + p4[bjets[np.argmin(dr)]]
        m_w[ev[a]] = invariant_mass(w)
        m_top[ev[a]] = invariant_mass(top)
    return pd.DataFrame({"m_w": m_w, "m_top": m_top})
