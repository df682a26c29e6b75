"""Object cuts and event selection of thesis §3.1 at each cut edge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lhc_vae.events.schema import TYPE_DTYPE
from lhc_vae.events.selection import evaluate_selection, invalid_event_rate, object_is_trigger, object_passes_cuts


def objs(rows):
    df = pd.DataFrame(rows, columns=["event_index", "type", "pt", "eta"])
    df["type"] = df["type"].astype(TYPE_DTYPE)
    return df


@pytest.mark.parametrize(
    ("symbol", "pt", "eta", "passes"),
    [
        ("j", 20.0, 0.0, False),  # pT > 20 is strict
        ("j", 20.01, 2.79, True),
        ("b", 30.0, 2.8, False),  # |eta| < 2.8 is strict
        ("b", 30.0, -2.79, True),
        ("e-", 15.0, 0.0, False),
        ("e+", 15.01, 2.69, True),
        ("m-", 16.0, 2.7, False),
        ("m+", 16.0, -2.69, True),
        ("g", 20.0, 0.0, False),
        ("g", 20.01, 2.36, True),
        ("g", 25.0, 2.37, False),
    ],
)
def test_object_cuts(symbol, pt, eta, passes):
    assert object_passes_cuts(objs([(0, symbol, pt, eta)]))[0] == passes


@pytest.mark.parametrize(
    ("symbol", "pt", "eta", "triggers"),
    [
        ("j", 60.0, 0.0, False),
        ("j", 60.01, 2.79, True),
        ("b", 61.0, 2.8, False),
        ("e-", 25.01, 1.37, True),  # crack is 1.37 < |eta| < 1.52, open
        ("e-", 25.01, 1.40, False),
        ("e+", 25.01, -1.52, True),
        ("e+", 25.01, 2.47, False),
        ("m-", 25.01, 2.69, True),
        ("m+", 25.0, 0.0, False),
        ("g", 25.01, 2.36, True),
        ("g", 25.01, 2.37, False),
    ],
)
def test_trigger_objects(symbol, pt, eta, triggers):
    assert object_is_trigger(objs([(0, symbol, pt, eta)]))[0] == triggers


def test_evaluate_selection_and_ier():
    o = objs(
        [
            (0, "j", 80.0, 0.5),  # valid: hard jet
            (1, "j", 40.0, 0.5),  # no trigger object
            (2, "j", 80.0, 0.5),
            (2, "g", 10.0, 0.0),  # triggered but a photon fails its object cut
            (3, "m+", 30.0, 1.0),  # valid: hard muon
        ]
    )
    sel = evaluate_selection(o, n_events=5)  # event 4 has no objects at all
    assert sel["passes_selection"].tolist() == [True, False, False, True, False]
    assert sel["n_failing_objects"].tolist() == [0, 0, 1, 0, 0]
    assert sel["has_trigger_object"].tolist() == [True, False, True, True, False]
    assert invalid_event_rate(o, 5) == pytest.approx(60.0)  # percent, thesis eq. 6.6
    with pytest.raises(ValueError):
        invalid_event_rate(o, 0)
    assert np.issubdtype(sel["n_failing_objects"].dtype, np.integer)


def test_cuts_follow_the_type_names_not_the_category_order():
    """A partitioned Parquet table read by pandas has its categories sorted (b, e+, e-, g, j, ...);
    the cuts must still be those of each object's own type: a 17 GeV electron passes (15 GeV cut)
    and a 17 GeV jet fails (20 GeV cut), whatever the codes."""
    rows = [(0, "e+", 17.0, 0.5), (0, "j", 17.0, 0.5), (1, "g", 21.0, 2.0), (1, "m-", 26.0, 2.6)]
    in_order = objs(rows)
    shuffled = in_order.assign(
        type=in_order["type"].astype(str).astype(pd.CategoricalDtype(sorted(TYPE_DTYPE.categories)))
    )
    as_text = in_order.assign(type=in_order["type"].astype(str))
    for o in (in_order, shuffled, as_text):
        assert object_passes_cuts(o).tolist() == [True, False, True, True]
        assert object_is_trigger(o).tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match="'x'"):
        object_passes_cuts(in_order.assign(type=["e+", "x", "g", "m-"]))
