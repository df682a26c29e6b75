"""Delphes ROOT files (issue #15 item 4), read with uproot into the project's event tables (GeV).

Physicists hold detector-level events as Delphes output: a ``Delphes`` TTree whose branches
``Jet.PT/Eta/Phi/Mass/BTag``, ``Electron.PT/Eta/Phi/Charge``, ``Muon.PT/Eta/Phi/Charge``,
``Photon.PT/Eta/Phi`` and ``MissingET.MET/Phi`` hold one entry per object (Delphes works in GeV).
Objects become the Dark Machines symbols of thesis Table 3.1: ``b`` for a b-tagged jet, ``j``
otherwise, ``e-``/``e+`` and ``m-``/``m+`` by charge, ``g``; the energy follows from pT, eta and the
jet mass (leptons and photons massless). The §3.1 object cuts and event selection are then applied
exactly as the ``mc`` pipeline applies them (:mod:`lhc_vae.events.selection`): failing objects are
dropped, then events without a trigger object; both counts are returned. ``Event.Number`` and
``Event.Weight`` are used when present (else the entry number and weight 1; note that Delphes's
weight is the generator's, not the cross section per event of the Dark Machines files).

A missing branch stops the read with an error naming the file and every missing branch: a file
written with another Delphes card is not silently read as one without, say, photons.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lhc_vae.events.schema import TYPE_DTYPE, EventTables
from lhc_vae.events.selection import evaluate_selection, object_passes_cuts
from lhc_vae.events.split import take_events

TREE = "Delphes"
#: Branches read per collection (all required).
BRANCHES: dict[str, tuple[str, ...]] = {
    "Jet": ("PT", "Eta", "Phi", "Mass", "BTag"),
    "Electron": ("PT", "Eta", "Phi", "Charge"),
    "Muon": ("PT", "Eta", "Phi", "Charge"),
    "Photon": ("PT", "Eta", "Phi"),
    "MissingET": ("MET", "Phi"),
}
OPTIONAL = ("Event.Number", "Event.Weight")


class DelphesFormatError(ValueError):
    """A Delphes file this reader cannot use; the message names the file and the reason."""


@dataclass(frozen=True)
class DelphesSample:
    """The events of a Delphes file after the §3.1 cuts and selection, with what they removed."""

    tables: EventTables
    n_entries: int
    n_objects_failing_cuts: int
    n_events_failing_selection: int


def _symbols(collection: str, columns: dict[str, np.ndarray]) -> np.ndarray:
    if collection == "Jet":
        # BTag is a bit mask of the card's working points; bit 0 is the default one
        return np.where(columns["BTag"].astype(np.int64) & 1, "b", "j")
    if collection in ("Electron", "Muon"):
        letter = "e" if collection == "Electron" else "m"
        return np.where(columns["Charge"] < 0, f"{letter}-", f"{letter}+")
    return np.full(len(columns["PT"]), "g")


def read_delphes(path: str | Path, process_id: str) -> DelphesSample:
    """Read ``path``'s ``Delphes`` tree into event tables (GeV) with the §3.1 cuts applied."""
    import awkward as ak
    import uproot

    path = Path(path)
    try:
        tree = uproot.open(path)[TREE]
    except (OSError, ValueError, KeyError) as err:
        raise DelphesFormatError(f"{path}: no readable '{TREE}' tree ({err})") from err
    names = set(tree.keys(full_paths=False))  # a real Delphes file nests them: Jet/Jet.PT
    wanted = [f"{c}.{b}" for c, branches in BRANCHES.items() for b in branches]
    missing = [name for name in wanted if name not in names]
    if missing:
        raise DelphesFormatError(f"{path}: the '{TREE}' tree has no branch {', '.join(missing)}")
    arrays = tree.arrays([*wanted, *(o for o in OPTIONAL if o in names)], library="ak")
    n = int(tree.num_entries)

    parts = []
    for collection, branches in BRANCHES.items():
        if collection == "MissingET":
            continue
        counts = ak.to_numpy(ak.num(arrays[f"{collection}.PT"]))
        cols = {b: ak.to_numpy(ak.flatten(arrays[f"{collection}.{b}"])).astype(np.float64) for b in branches}
        mass = cols["Mass"] if collection == "Jet" else 0.0
        parts.append(
            pd.DataFrame(
                {
                    "event_index": np.repeat(np.arange(n, dtype=np.int64), counts),
                    "type": _symbols(collection, cols),
                    "e": np.sqrt((cols["PT"] * np.cosh(cols["Eta"])) ** 2 + mass**2),
                    "pt": cols["PT"],
                    "eta": cols["Eta"],
                    "phi": cols["Phi"],
                }
            )
        )
    objects = pd.concat(parts, ignore_index=True).sort_values("event_index", kind="stable", ignore_index=True)
    objects["type"] = objects["type"].astype(TYPE_DTYPE)
    for col in ("e", "pt", "eta", "phi"):
        objects[col] = objects[col].astype(np.float32)

    met = arrays["MissingET.MET"]
    if not ak.all(ak.num(met) == 1):
        raise DelphesFormatError(f"{path}: MissingET must hold one entry per event")
    events = pd.DataFrame(
        {
            "event_id": ak.to_numpy(arrays["Event.Number"][:, 0]).astype(np.int64)
            if "Event.Number" in arrays.fields
            else np.arange(n, dtype=np.int64),
            "process_id": pd.array([process_id] * n, dtype="string"),
            "weight": ak.to_numpy(arrays["Event.Weight"][:, 0]).astype(np.float64)
            if "Event.Weight" in arrays.fields
            else np.ones(n),
            "met": ak.to_numpy(met[:, 0]).astype(np.float64),
            "met_phi": ak.to_numpy(arrays["MissingET.Phi"][:, 0]).astype(np.float64),
            "line": np.arange(1, n + 1, dtype=np.int64),  # the entry, 1-based, as a file line would be
        }
    )

    passing = object_passes_cuts(objects)
    objects = objects[passing].reset_index(drop=True)
    keep = evaluate_selection(objects, n)["has_trigger_object"].to_numpy()
    events, objects = take_events(events, objects, np.flatnonzero(keep))
    return DelphesSample(EventTables(events, objects), n, int((~passing).sum()), int((~keep).sum()))
