"""Model features: log10 of E, pT and MET, then standardisation fitted on the training split.

Thesis §7.2 finds E, pT and MET log-normal, so they enter the models as log10 (§7.3.1);
§7.4.1 standardises every feature (zero mean, unit variance) and rescales after generation.
Scalers are fitted per object type on training events only and saved as JSON; the inverse
transform brings generated features back to GeV with phi wrapped to [-pi, pi].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.events.schema import OBJECT_FEATURES, SYMBOLS, wrap_phi

#: Features that enter the models as log10 (thesis §7.2, §7.3.1).
LOG_FEATURES = frozenset({"e", "pt", "met"})
#: Event-level features.
EVENT_FEATURES: tuple[str, ...] = ("met", "met_phi")
#: Floor applied before log10 so a zero MET stays finite (1 MeV, the files' precision).
LOG_FLOOR_GEV = 1e-3
#: Features that are angles and are wrapped after the inverse transform.
ANGLES = frozenset({"phi", "met_phi"})


@dataclass(frozen=True)
class Standardizer:
    """x -> (f(x) - mean) / std with f = log10 for log features, identity otherwise."""

    mean: float
    std: float
    log10: bool

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.log10:
            x = np.log10(np.maximum(x, LOG_FLOOR_GEV))
        return (x - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        x = np.asarray(z, dtype=np.float64) * self.std + self.mean
        return np.power(10.0, x) if self.log10 else x

    @classmethod
    def fit(cls, x: np.ndarray, log10: bool) -> Standardizer:
        x = np.asarray(x, dtype=np.float64)
        if log10:
            x = np.log10(np.maximum(x, LOG_FLOOR_GEV))
        if x.size == 0:
            return cls(0.0, 1.0, log10)
        std = float(x.std())
        return cls(float(x.mean()), std if std > 0 else 1.0, log10)


@dataclass(frozen=True)
class FeatureScaler:
    """Standardisers for the event features and for each object type's features."""

    events: dict[str, Standardizer]
    objects: dict[str, dict[str, Standardizer]]
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, events: pd.DataFrame, objects: pd.DataFrame) -> FeatureScaler:
        """Fit on the given (training) events and their objects."""
        ev = {f: Standardizer.fit(events[f].to_numpy(), f in LOG_FEATURES) for f in EVENT_FEATURES}
        obj: dict[str, dict[str, Standardizer]] = {}
        counts = {"events": int(len(events))}
        for symbol in SYMBOLS:
            sel = objects[objects["type"] == symbol]
            counts[symbol] = int(len(sel))
            obj[symbol] = {f: Standardizer.fit(sel[f].to_numpy(), f in LOG_FEATURES) for f in OBJECT_FEATURES}
        return cls(ev, obj, counts)

    def _map_objects(self, objects: pd.DataFrame, inverse: bool, wrap: bool = True) -> pd.DataFrame:
        out = objects.copy()
        codes = objects["type"].cat.codes.to_numpy()
        for feature in OBJECT_FEATURES:
            values = objects[feature].to_numpy(dtype=np.float64)
            result = np.empty_like(values)
            for code, symbol in enumerate(SYMBOLS):
                sel = codes == code
                s = self.objects[symbol][feature]
                result[sel] = s.inverse(values[sel]) if inverse else s.forward(values[sel])
            out[feature] = (wrap_phi(result) if inverse and wrap and feature in ANGLES else result).astype(np.float32)
        return out

    def transform_objects(self, objects: pd.DataFrame) -> pd.DataFrame:
        """GeV objects -> standardised features (same columns, same rows)."""
        return self._map_objects(objects, inverse=False)

    def inverse_objects(self, objects: pd.DataFrame, wrap: bool = True) -> pd.DataFrame:
        """Standardised features -> GeV objects, phi wrapped to [-pi, pi] unless ``wrap`` is off."""
        return self._map_objects(objects, inverse=True, wrap=wrap)

    def transform_events(self, events: pd.DataFrame) -> pd.DataFrame:
        out = events.copy()
        for f, s in self.events.items():
            out[f] = s.forward(events[f].to_numpy())
        return out

    def inverse_events(self, events: pd.DataFrame, wrap: bool = True) -> pd.DataFrame:
        out = events.copy()
        for f, s in self.events.items():
            values = s.inverse(events[f].to_numpy())
            out[f] = wrap_phi(values) if wrap and f in ANGLES else values
        return out

    def to_dict(self) -> dict[str, Any]:
        def enc(s: Standardizer) -> dict[str, Any]:
            return {"mean": s.mean, "std": s.std, "log10": s.log10}

        return {
            "fitted_on": "train",
            "log_floor_gev": LOG_FLOOR_GEV,
            "counts": self.counts,
            "events": {f: enc(s) for f, s in self.events.items()},
            "objects": {sym: {f: enc(s) for f, s in d.items()} for sym, d in self.objects.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureScaler:
        def dec(d: dict[str, Any]) -> Standardizer:
            return Standardizer(float(d["mean"]), float(d["std"]), bool(d["log10"]))

        return cls(
            events={f: dec(d) for f, d in data["events"].items()},
            objects={sym: {f: dec(d) for f, d in fs.items()} for sym, fs in data["objects"].items()},
            counts=dict(data.get("counts", {})),
        )
