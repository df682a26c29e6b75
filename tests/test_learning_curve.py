"""The learning curve (issue #12 item 4): sizes, nested subsets, and one real point per size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.schema import primary_tables
from lhc_vae.models.experiments import get_experiment
from lhc_vae.pipelines.learning_curve.nodes import (
    learning_curve,
    plot_learning_curves,
    subsample_training,
    training_sizes,
)


def test_training_sizes_stop_at_what_the_sample_has():
    assert training_sizes(16_000, [10_000, 30_000, 100_000, 300_000]) == [10_000, 16_000]
    assert training_sizes(160_000, [10_000, 30_000, 100_000, 300_000]) == [10_000, 30_000, 100_000, 160_000]
    assert training_sizes(500, [10_000]) == [500]


def test_subsets_are_nested_and_keep_validation_and_test():
    n = 1000
    events = pd.DataFrame(
        {
            "event_index": np.arange(n),
            "split": np.where(np.arange(n) % 10 < 8, "train", np.where(np.arange(n) % 10 == 8, "validation", "test")),
        }
    )
    objects = pd.DataFrame({"event_index": np.repeat(np.arange(n), 2), "pt": np.arange(2 * n, dtype=float)})
    small_ev, small_obj = subsample_training(events, objects, 100, seed=3)
    large_ev, _large_obj = subsample_training(events, objects, 400, seed=3)
    assert (small_ev["split"] == "train").sum() == 100 and (large_ev["split"] == "train").sum() == 400
    assert (small_ev["split"] != "train").sum() == (large_ev["split"] != "train").sum() == 200
    assert set(small_ev["event_index"]) < set(large_ev["event_index"])  # nested
    assert set(small_obj["event_index"]) == set(small_ev["event_index"]) and len(small_obj) == 2 * len(small_ev)
    other, _ = subsample_training(events, objects, 100, seed=4)
    assert set(other["event_index"]) != set(small_ev["event_index"])


def test_learning_curve_trains_each_size_and_plots_against_the_floor(tmp_path):
    """Experiment III on 3000 synthetic events: a point at 800 training events and one at the whole
    split (2400); each model trains (one epoch, batch 100) on the events of its subset among them."""
    n = 3000
    events, objects = primary_tables(make_tables(n, seed=21))
    events["split"] = np.where(np.arange(n) % 10 < 8, "train", np.where(np.arange(n) % 10 == 8, "validation", "test"))
    scaler = FeatureScaler.fit(
        events[events["split"] == "train"],
        objects[np.isin(objects["event_index"], events.loc[events["split"] == "train", "event_index"])],
        "detector",
    )
    framed_events, framed_objects = scaler.to_frame(events, objects)
    model_events = scaler.transform_events(framed_events)
    model_objects = scaler.transform_objects(framed_objects)
    model_objects["split"] = events["split"].to_numpy()[objects["event_index"].to_numpy()]
    params = {
        "experiment": "exp3",
        "latent_dim": 8,
        "batch_size": 100,
        "epochs": 1,
        "learning_rate": 1e-3,
        "likelihood_noise": True,
        "backup_dir": str(tmp_path / "backup"),
    }
    curve = {"train_events": [800, 300_000], "n_generate": 400, "n_bootstrap": 2}
    report = {"n_bins": 10, "folds": 2}
    table = learning_curve(
        model_events, model_objects, scaler.to_dict(), events, objects, 0.5, 1, "ttbar", curve, report, params
    )
    points = table[table["n_train_requested"].notna()]
    assert points["n_train_requested"].tolist() == [800, 2400]
    layout = get_experiment("exp3").layout
    used = [
        int(
            layout.select(subsample_training(model_events, model_objects, k, 1)[0]).sum()
            - layout.select(model_events[model_events["split"] != "train"]).sum()
        )
        for k in (800, 2400)
    ]
    assert 0 < used[0] < 800 and used[0] < used[1] < 2400
    assert points["n_train_used"].tolist() == used
    assert points["optimizer_steps"].tolist() == [-(-k // 100) for k in used]
    assert table.loc[table["n_train_requested"].isna(), "run"].tolist() == ["truth vs truth (floor)"]
    combined, fig = plot_learning_curves(table.astype(object).where(table.notna(), ""))
    assert combined["n_train_requested"].isna().sum() == 1 and len(fig.axes) == 5
