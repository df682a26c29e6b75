"""The Dark Machines object cuts and event selection (thesis §3.1).

One definition, used three times: the ``mc`` pipeline keeps only objects and events that pass,
the preprocessing counts real events that fail, and the evaluation scores generated events
that fail as invalid (invalid event rate, thesis eq. 6.6).

Object cuts (every stored object must pass):

* jet or b-jet: pT > 20 GeV and |eta| < 2.8
* electron or muon: pT > 15 GeV and |eta| < 2.7
* photon: pT > 20 GeV and |eta| < 2.37

Event selection (at least one of):

* a jet or b-jet with pT > 60 GeV and |eta| < 2.8
* an electron with pT > 25 GeV and |eta| < 2.47, outside 1.37 < |eta| < 1.52
* a muon with pT > 25 GeV and |eta| < 2.7
* a photon with pT > 25 GeV and |eta| < 2.37
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lhc_vae.events.schema import SYMBOLS, TYPE_DTYPE

_JETS = ("j", "b")
_ELECTRONS = ("e-", "e+")
_MUONS = ("m-", "m+")
_PHOTONS = ("g",)


@dataclass(frozen=True)
class Cut:
    """pT > pt_min and |eta| < eta_max, optionally outside crack_low < |eta| < crack_high."""

    pt_min: float
    eta_max: float
    crack: tuple[float, float] | None = None

    def passes(self, pt: np.ndarray, abs_eta: np.ndarray) -> np.ndarray:
        ok = (pt > self.pt_min) & (abs_eta < self.eta_max)
        if self.crack is not None:
            ok &= ~((abs_eta > self.crack[0]) & (abs_eta < self.crack[1]))
        return ok


#: Object cuts of thesis §3.1, per symbol.
OBJECT_CUTS: dict[str, Cut] = {
    **{s: Cut(20.0, 2.8) for s in _JETS},
    **{s: Cut(15.0, 2.7) for s in _ELECTRONS + _MUONS},
    **{s: Cut(20.0, 2.37) for s in _PHOTONS},
}

#: Event-selection (trigger) objects of thesis §3.1, per symbol.
TRIGGER_CUTS: dict[str, Cut] = {
    **{s: Cut(60.0, 2.8) for s in _JETS},
    **{s: Cut(25.0, 2.47, crack=(1.37, 1.52)) for s in _ELECTRONS},
    **{s: Cut(25.0, 2.7) for s in _MUONS},
    **{s: Cut(25.0, 2.37) for s in _PHOTONS},
}


def _apply(cuts: dict[str, Cut], objects: pd.DataFrame) -> np.ndarray:
    # codes in Table 3.1 order whatever the categories' order (a partitioned Parquet read by pandas
    # sorts them: b, e+, e-, ...); a type that is not a symbol is an error, not a silent failure
    known = objects["type"].isin(SYMBOLS).to_numpy()
    if not known.all():
        unknown = sorted(set(objects["type"][~known].astype(str)))
        raise ValueError(f"object types {unknown} are not Dark Machines symbols {list(SYMBOLS)}")
    codes = objects["type"].astype(TYPE_DTYPE).cat.codes.to_numpy()
    pt = objects["pt"].to_numpy()
    abs_eta = np.abs(objects["eta"].to_numpy())
    ok = np.zeros(len(objects), dtype=bool)
    for code, symbol in enumerate(SYMBOLS):
        sel = codes == code
        ok[sel] = cuts[symbol].passes(pt[sel], abs_eta[sel])
    return ok


def object_passes_cuts(objects: pd.DataFrame) -> np.ndarray:
    """Per object: does it pass the object cuts of thesis §3.1?"""
    return _apply(OBJECT_CUTS, objects)


def object_is_trigger(objects: pd.DataFrame) -> np.ndarray:
    """Per object: does it satisfy one of the event-selection criteria of thesis §3.1?"""
    return _apply(TRIGGER_CUTS, objects)


def evaluate_selection(objects: pd.DataFrame, n_events: int) -> pd.DataFrame:
    """Selection of thesis §3.1 per event.

    Returns one row per event with ``n_failing_objects`` (objects that fail the object cuts),
    ``has_trigger_object`` and ``passes_selection`` (all objects pass and one triggers).
    """
    event_index = objects["event_index"].to_numpy()
    failing = np.bincount(event_index[~object_passes_cuts(objects)], minlength=n_events)
    trigger = np.bincount(event_index[object_is_trigger(objects)], minlength=n_events) > 0
    return pd.DataFrame(
        {
            "n_failing_objects": failing.astype(np.int32),
            "has_trigger_object": trigger,
            "passes_selection": (failing == 0) & trigger,
        }
    )


def invalid_event_rate(objects: pd.DataFrame, n_events: int) -> float:
    """IER = N_invalid / N_total * 100, in percent (thesis eq. 6.6), with the §3.1 selection."""
    if n_events == 0:
        raise ValueError("invalid_event_rate needs at least one event")
    return float(100.0 * (1.0 - evaluate_selection(objects, n_events)["passes_selection"].mean()))
