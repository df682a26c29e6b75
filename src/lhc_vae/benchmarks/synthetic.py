"""Synthetic event samples (GeV, physical ranges) for tests and benchmarks; not physics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lhc_vae.events.schema import SYMBOLS, TYPE_DTYPE, EventTables


def make_tables(n_events: int, seed: int = 0, process: str = "ttbar") -> EventTables:
    """Random events: 1-8 objects each, log-normal pT, eta in (-2.5, 2.5), E = pT cosh(eta) + mass."""
    rng = np.random.default_rng(seed)
    n_obj = rng.integers(1, 9, size=n_events)
    event_index = np.repeat(np.arange(n_events), n_obj)
    m = len(event_index)
    types = rng.choice(len(SYMBOLS), size=m, p=[0.55, 0.2, 0.05, 0.05, 0.05, 0.05, 0.05])
    pt = 25.0 + rng.lognormal(3.5, 0.7, size=m)
    # the first object of every event is a hard jet so the event passes the selection
    first = np.r_[0, np.cumsum(n_obj)[:-1]]
    types[first] = 0
    pt[first] = 70.0 + rng.lognormal(4.0, 0.5, size=n_events)
    eta = rng.uniform(-2.3, 2.3, size=m)
    phi = rng.uniform(-np.pi, np.pi, size=m)
    e = pt * np.cosh(eta) + rng.uniform(0.0, 10.0, size=m)
    objects = pd.DataFrame(
        {
            "event_index": event_index,
            "type": pd.Categorical.from_codes(types, dtype=TYPE_DTYPE),
            "e": e,
            "pt": pt,
            "eta": eta,
            "phi": phi,
        }
    )
    events = pd.DataFrame(
        {
            "event_id": rng.integers(0, n_events // 2 + 1, size=n_events),  # IDs need not be unique
            "process_id": process,
            "weight": rng.uniform(0.1, 1.0, size=n_events),
            "met": rng.lognormal(3.5, 0.8, size=n_events),
            "met_phi": rng.uniform(-np.pi, np.pi, size=n_events),
        }
    )
    return EventTables(events, objects)
