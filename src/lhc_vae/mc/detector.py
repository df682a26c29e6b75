"""Parametrised ATLAS-like detector response, on the published Delphes ATLAS card (DESIGN.md).

Every number comes from the ``detector`` block of ``conf/base/parameters_mc.yml`` (each with
its source there); the functions here only apply them, vectorised over the particles of one
event. Units GeV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Particles:
    """Visible final-state particles of one event (arrays of equal length)."""

    pid: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray

    @property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)

    @property
    def eta(self) -> np.ndarray:
        return np.arcsinh(
            np.divide(self.pz, self.pt, out=np.full_like(self.pz, np.sign(self.pz) * 1e6), where=self.pt > 0)
        )

    @property
    def phi(self) -> np.ndarray:
        return np.arctan2(self.py, self.px)


def delta_r(eta1: np.ndarray, phi1: np.ndarray, eta2: np.ndarray, phi2: np.ndarray) -> np.ndarray:
    """Pairwise Delta R between two sets of directions, shape (len1, len2)."""
    deta = eta1[:, None] - eta2[None, :]
    dphi = np.angle(np.exp(1j * (phi1[:, None] - phi2[None, :])))
    return np.hypot(deta, dphi)


def binned(values: np.ndarray, edges: list[float], table: list[float]) -> np.ndarray:
    """table[k] for edges[k] <= |value| < edges[k+1]; 0 outside the last edge."""
    idx = np.searchsorted(np.asarray(edges), np.abs(values), side="right") - 1
    out = np.zeros(len(values))
    inside = (idx >= 0) & (idx < len(table))
    out[inside] = np.asarray(table)[idx[inside]]
    return out


def _per_eta_block(x: np.ndarray, abs_eta: np.ndarray, blocks: list[dict[str, Any]], formula: Any) -> np.ndarray:
    """formula(x, block) for the objects inside each |eta| block (blocks ordered by eta_max); 0 outside."""
    out = np.zeros(len(x))
    lo = 0.0
    for block in blocks:
        sel = (abs_eta >= lo) & (abs_eta < block["eta_max"])
        out[sel] = formula(x[sel], block)
        lo = block["eta_max"]
    return out


def calorimeter_sigma(e: np.ndarray, abs_eta: np.ndarray, blocks: list[dict[str, Any]]) -> np.ndarray:
    """sigma(E) = sqrt((a E)^2 + b^2 E + c^2) with (a, b, c) of the |eta| block containing the object."""
    return _per_eta_block(
        e, abs_eta, blocks, lambda x, k: np.sqrt((k["a"] * x) ** 2 + k["b"] ** 2 * x + k.get("c", 0.0) ** 2)
    )


def tracker_sigma_over_pt(pt: np.ndarray, abs_eta: np.ndarray, blocks: list[dict[str, Any]]) -> np.ndarray:
    """sigma(pT)/pT = sqrt(a^2 + (b pT)^2) with (a, b) of the |eta| block containing the object."""
    return _per_eta_block(pt, abs_eta, blocks, lambda x, k: np.hypot(k["a"], k["b"] * x))


def smear_energy(e: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian energy smearing, truncated at zero (log-normal would bias the mean)."""
    return np.maximum(e + sigma * rng.standard_normal(len(e)), 0.0)


def btag_efficiency(pt: np.ndarray, flavour: np.ndarray, card: dict[str, Any]) -> np.ndarray:
    """Tagging probability of the Delphes ATLAS card for b (5), c (4) and light (0) jets."""
    b = card["b"]
    c = card["c"]
    light = card["light"]
    eff_b = b["a"] * np.tanh(b["b"] * pt) * b["c"] / (1.0 + b["d"] * pt)
    eff_c = c["a"] * np.tanh(c["b"] * pt) / (1.0 + c["c"] * pt)
    eff_l = light["a"] + light["b"] * pt
    return np.where(flavour == 5, eff_b, np.where(flavour == 4, eff_c, eff_l))
