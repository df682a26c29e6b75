"""Model features: a per-feature transform, then standardisation fitted on the training split.

Two representations, chosen by ``preprocessing.representation`` (issue #12 item 3):

* ``thesis`` (§7.2, §7.3.1): E, pT and MET as log10, eta and phi as they are. A decoder can put
  an object anywhere, including below its §3.1 pT cut or beyond its |eta| cut: such events are
  invalid (eq. 6.6), and E < pT has to be corrected.
* ``detector``: the §3.1 object cuts hold by construction. pT -> ln(pT - pT_min), eta ->
  atanh(eta / eta_max) with the cuts of the object's type (:data:`lhc_vae.events.selection.OBJECT_CUTS`),
  E -> ln(E - |p|) with |p| = pT cosh(eta); the inverses pT_min + e^y, eta_max tanh(y) and
  |p| + e^y land inside the cuts and give E >= |p| (a real mass, m^2 >= 0) for any decoder
  output. MET stays log10. The detector is symmetric in phi, so angles are measured in the
  *MET frame*: every object's phi from the direction opposite to the
  MET (phi' = phi - phi_MET - pi, wrapped); the MET's own phi is 0 there. Generation turns each
  event by a uniform random angle (:meth:`FeatureScaler.from_frame`), so every phi distribution
  is flat by construction and only the physical angles between objects and MET are learned (phi
  "followed a uniform distribution", thesis §7.2 and Figure 7.3).

§7.4.1 standardises every transformed feature (zero mean, unit variance) and rescales after
generation. Scalers are fitted per object type on training events only and saved as JSON; the
inverse brings generated features back to GeV with phi wrapped to [-pi, pi].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.events.schema import OBJECT_FEATURES, SYMBOLS, wrap_phi
from lhc_vae.events.selection import OBJECT_CUTS, object_passes_cuts

#: Event-level features.
EVENT_FEATURES: tuple[str, ...] = ("met", "met_phi")
#: Floor applied before a logarithm so a zero stays finite (1 MeV, the files' precision).
LOG_FLOOR_GEV = 1e-3
#: atanh's argument is kept within +-(1 - ATANH_EDGE): a value on the cut maps to a finite number.
ATANH_EDGE = 1e-6
#: Features that are angles and are wrapped after the inverse transform.
ANGLES = frozenset({"phi", "met_phi"})
#: The transforms a representation may give a feature.
TRANSFORMS = ("linear", "log10", "log_above_cut", "atanh_cut", "log_e_minus_p")
#: Azimuthal frames: ``lab`` (phi as measured) or ``met`` (phi from the direction opposite to the MET).
FRAMES = ("lab", "met")
#: The representations of the thesis (§7.2, §7.3.1) and of issue #12 (the §3.1 cuts by construction,
#: angles in the MET frame). ``frame`` is the azimuthal frame, the rest feature -> transform.
REPRESENTATIONS: dict[str, dict[str, str]] = {
    "thesis": {
        "e": "log10",
        "pt": "log10",
        "eta": "linear",
        "phi": "linear",
        "met": "log10",
        "met_phi": "linear",
        "frame": "lab",
    },
    "detector": {
        "e": "log_e_minus_p",
        "pt": "log_above_cut",
        "eta": "atanh_cut",
        "phi": "linear",
        "met": "log10",
        "met_phi": "linear",
        "frame": "met",
    },
}


def representation(name_or_mapping: str | dict[str, str]) -> dict[str, str]:
    """A representation by name, or a mapping feature -> transform checked against :data:`TRANSFORMS`."""
    if isinstance(name_or_mapping, str):
        if name_or_mapping not in REPRESENTATIONS:
            raise ValueError(
                f"representation must be one of {', '.join(REPRESENTATIONS)} or a mapping; got {name_or_mapping!r}"
            )
        return dict(REPRESENTATIONS[name_or_mapping])
    mapping = {"frame": "lab", **name_or_mapping}
    missing = {*OBJECT_FEATURES, *EVENT_FEATURES} - set(mapping)
    unknown = {t for f, t in mapping.items() if f != "frame" and t not in TRANSFORMS}
    if mapping["frame"] not in FRAMES:
        raise ValueError(f"representation {mapping}: frame must be one of {FRAMES}")
    if missing or unknown:
        raise ValueError(
            f"representation {mapping}: missing features {sorted(missing)}, "
            f"unknown transforms {sorted(unknown)} (known: {TRANSFORMS})"
        )
    if "log_e_minus_p" in (mapping["pt"], mapping["eta"], mapping["phi"], mapping["met"], mapping["met_phi"]):
        raise ValueError("log_e_minus_p applies to E only")
    return mapping


@dataclass(frozen=True)
class Standardizer:
    """x -> (f(x) - mean) / std for one feature, with f one of :data:`TRANSFORMS`:

    * ``linear``: x; ``log10``: log10 x (floored at 1 MeV);
    * ``log_above_cut``: ln(x - lower), lower the type's pT cut (floored at 1 MeV above it);
    * ``atanh_cut``: atanh(x / bound), bound the type's |eta| cut;
    * ``log_e_minus_p``: ln(E - |p|) (floored at 1 MeV), |p| = pT cosh(eta), so E >= |p| after the inverse.
    """

    mean: float
    std: float
    transform: str = "linear"
    lower: float = 0.0
    bound: float = 1.0

    def __post_init__(self):
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r} (known: {TRANSFORMS})")

    def apply(self, x: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
        """f(x) before standardisation; ``p`` (the momentum |p| in GeV) is needed by ``log_e_minus_p``."""
        x = np.asarray(x, dtype=np.float64)
        if self.transform == "log10":
            return np.log10(np.maximum(x, LOG_FLOOR_GEV))
        if self.transform == "log_above_cut":
            return np.log(np.maximum(x - self.lower, LOG_FLOOR_GEV))
        if self.transform == "atanh_cut":
            return np.arctanh(np.clip(x / self.bound, -1.0 + ATANH_EDGE, 1.0 - ATANH_EDGE))
        if self.transform == "log_e_minus_p":
            return np.log(np.maximum(x - np.asarray(p, dtype=np.float64), LOG_FLOOR_GEV))
        return x

    def forward(self, x: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
        return (self.apply(x, p) - self.mean) / self.std

    def inverse(self, z: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
        """Standardised values -> physical ones.

        ``p`` is |p| in GeV (from the inverted pT and eta), needed by ``log_e_minus_p``.
        """
        y = np.asarray(z, dtype=np.float64) * self.std + self.mean
        if self.transform == "log10":
            return np.power(10.0, y)
        # the floors of :meth:`apply` hold here too, so a value stays inside its cut after float32 rounding
        if self.transform == "log_above_cut":
            return self.lower + np.maximum(np.exp(y), LOG_FLOOR_GEV)
        if self.transform == "atanh_cut":
            return self.bound * np.clip(np.tanh(y), -1.0 + ATANH_EDGE, 1.0 - ATANH_EDGE)
        if self.transform == "log_e_minus_p":
            return np.asarray(p, dtype=np.float64) + np.maximum(np.exp(y), LOG_FLOOR_GEV)
        return y

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        transform: str = "linear",
        lower: float = 0.0,
        bound: float = 1.0,
        p: np.ndarray | None = None,
    ) -> Standardizer:
        unfitted = cls(0.0, 1.0, transform, float(lower), float(bound))
        y = unfitted.apply(x, p)
        if y.size == 0:
            return unfitted
        std = float(y.std())
        return cls(float(y.mean()), std if std > 0 else 1.0, transform, float(lower), float(bound))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "transform": self.transform,
            "lower": self.lower,
            "bound": self.bound,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Standardizer:
        return cls(float(d["mean"]), float(d["std"]), str(d["transform"]), float(d["lower"]), float(d["bound"]))


def momentum(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """|p| = pT cosh(eta), GeV."""
    return np.asarray(pt, dtype=np.float64) * np.cosh(np.asarray(eta, dtype=np.float64))


def _event_rows(events: pd.DataFrame, objects: pd.DataFrame) -> np.ndarray:
    """Row of each object's event: by ``event_index`` when the events carry it, else the index is the row."""
    if "event_index" not in events:
        return objects["event_index"].to_numpy()
    row_of = pd.Series(np.arange(len(events)), index=events["event_index"].to_numpy())
    return row_of.reindex(objects["event_index"].to_numpy()).to_numpy()


def to_met_frame(events: pd.DataFrame, objects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GeV tables -> MET frame: phi' = wrap(phi - phi_MET - pi) for objects, phi_MET' = 0."""
    met_phi = events["met_phi"].to_numpy(np.float64)
    rows = _event_rows(events, objects)
    objects = objects.assign(
        phi=wrap_phi(objects["phi"].to_numpy(np.float64) - met_phi[rows] - np.pi).astype(np.float32)
    )
    return events.assign(met_phi=0.0), objects


def from_met_frame(
    events: pd.DataFrame, objects: pd.DataFrame, azimuth: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MET frame -> GeV tables turned by ``azimuth`` (one angle per event): phi_MET = wrap(phi_MET' +
    azimuth), phi = wrap(phi' + phi_MET + pi); the angles between objects and MET are kept."""
    met_phi = wrap_phi(events["met_phi"].to_numpy(np.float64) + np.asarray(azimuth, dtype=np.float64))
    rows = _event_rows(events, objects)
    objects = objects.assign(
        phi=wrap_phi(objects["phi"].to_numpy(np.float64) + met_phi[rows] + np.pi).astype(np.float32)
    )
    return events.assign(met_phi=met_phi), objects


def _object_standardizer(objects: pd.DataFrame, symbol: str, feature: str, transform: str) -> Standardizer:
    cut = OBJECT_CUTS[symbol]
    p = momentum(objects["pt"].to_numpy(), objects["eta"].to_numpy()) if transform == "log_e_minus_p" else None
    return Standardizer.fit(objects[feature].to_numpy(), transform, lower=cut.pt_min, bound=cut.eta_max, p=p)


@dataclass(frozen=True)
class FeatureScaler:
    """Standardisers for the event features and for each object type's features."""

    events: dict[str, Standardizer]
    objects: dict[str, dict[str, Standardizer]]
    counts: dict[str, int] = field(default_factory=dict)
    representation: str = "thesis"
    frame: str = "lab"

    @classmethod
    def fit(
        cls, events: pd.DataFrame, objects: pd.DataFrame, representation_name: str | dict[str, str] = "thesis"
    ) -> FeatureScaler:
        """Fit on the given (training) events and their objects (GeV, lab frame), in the
        named representation; its transforms see the angles in the representation's frame."""
        rep = representation(representation_name)
        if rep["frame"] == "met":
            events, objects = to_met_frame(events, objects)
        ev = {f: Standardizer.fit(events[f].to_numpy(), rep[f]) for f in EVENT_FEATURES}
        obj: dict[str, dict[str, Standardizer]] = {}
        counts = {"events": len(events)}
        for symbol in SYMBOLS:
            sel = objects[objects["type"] == symbol]
            counts[symbol] = len(sel)
            obj[symbol] = {f: _object_standardizer(sel, symbol, f, rep[f]) for f in OBJECT_FEATURES}
        # what the detector transforms cannot represent and move onto their edge (pT or |eta| on the
        # cut, E = |p| + 1 MeV); counted so the preprocessing can say so
        counts["objects_outside_cuts"] = int((~object_passes_cuts(objects)).sum())
        p = momentum(objects["pt"].to_numpy(), objects["eta"].to_numpy())
        counts["objects_e_below_p"] = int((objects["e"].to_numpy(np.float64) < p * (1.0 - 1e-5)).sum())
        name = representation_name if isinstance(representation_name, str) else "custom"
        return cls(ev, obj, counts, name, rep["frame"])

    def to_frame(self, events: pd.DataFrame, objects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """GeV tables -> the representation's azimuthal frame (before :meth:`transform_objects`)."""
        return to_met_frame(events, objects) if self.frame == "met" else (events, objects)

    def from_frame(self, events: pd.DataFrame, objects: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Inverse-transformed tables -> lab frame. In the MET frame each event is turned by
        a uniform angle in [-pi, pi) drawn from ``seed`` (the detector's phi symmetry)."""
        if self.frame != "met":
            return events, objects
        azimuth = np.random.default_rng([int(seed), 0x5EED]).uniform(-np.pi, np.pi, len(events))
        return from_met_frame(events, objects, azimuth)

    def _map_objects(self, objects: pd.DataFrame, inverse: bool, wrap: bool = True) -> pd.DataFrame:
        out = objects.copy()
        codes = objects["type"].cat.codes.to_numpy()
        physical = {} if inverse else {f: objects[f].to_numpy(dtype=np.float64) for f in ("pt", "eta")}
        # E last: its inverse (log_e_minus_p) needs the physical pT and eta
        for feature in sorted(OBJECT_FEATURES, key=lambda f: f == "e"):
            values = objects[feature].to_numpy(dtype=np.float64)
            p = momentum(physical["pt"], physical["eta"]) if feature == "e" else None
            result = np.empty_like(values)
            for code, symbol in enumerate(SYMBOLS):
                sel = codes == code
                s = self.objects[symbol][feature]
                ps = p[sel] if p is not None else None
                result[sel] = s.inverse(values[sel], ps) if inverse else s.forward(values[sel], ps)
            if inverse and feature in ("pt", "eta"):
                physical[feature] = result
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
        return {
            "fitted_on": "train",
            "representation": self.representation,
            "frame": self.frame,
            "log_floor_gev": LOG_FLOOR_GEV,
            "counts": self.counts,
            "events": {f: s.to_dict() for f, s in self.events.items()},
            "objects": {sym: {f: s.to_dict() for f, s in d.items()} for sym, d in self.objects.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureScaler:
        if "representation" not in data:
            raise ValueError(
                "this feature scaler predates the representations of issue #12; "
                "recreate it with `kedro run --pipeline=preprocessing`"
            )
        return cls(
            events={f: Standardizer.from_dict(d) for f, d in data["events"].items()},
            objects={sym: {f: Standardizer.from_dict(d) for f, d in fs.items()} for sym, fs in data["objects"].items()},
            counts=dict(data.get("counts", {})),
            representation=str(data["representation"]),
            frame=str(data["frame"]),
        )
