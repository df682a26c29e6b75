"""What the MLflow tracking hook (lhc_vae.tracking, issue #15 item 1) makes of the project's records.

The hook itself runs in the end-to-end test of the VAE pipelines (tests/test_vae_pipelines.py), which
reads the runs back from a real MLflow store."""

from __future__ import annotations

import math
import subprocess

import pandas as pd
import pytest

from lhc_vae.tracking import git_commit, report_metrics, training_metrics, training_params


def test_the_loss_history_is_one_metric_per_epoch_and_component():
    training = {
        "experiment": "exp2",
        "beta": 0.2,
        "history": {"loss": [3.0, 2.0, 1.5], "val_loss": [3.5, math.nan, 2.5]},
        "training_seconds": 12.5,
        "components": {
            "met": {"n_train": 800, "epochs": 2, "history": {"loss": [1.0, 0.5]}, "early_stopping": {"patience": 3}},
        },
    }
    metrics = training_metrics(training, timestamp=7)
    series = {}
    for m in metrics:
        series.setdefault(m.key, []).append((m.step, m.value))
    assert series["loss"] == [(0, 3.0), (1, 2.0), (2, 1.5)]
    assert series["val_loss"] == [(0, 3.5), (2, 2.5)]  # a NaN epoch is left out, the others keep their epoch
    assert series["met.loss"] == [(0, 1.0), (1, 0.5)] and series["training_seconds"] == [(0, 12.5)]
    assert {m.timestamp for m in metrics} == {7}
    params = training_params(training)
    assert params == {"experiment": "exp2", "beta": 0.2, "met.n_train": 800, "met.epochs": 2}


def test_report_numbers_go_to_their_run_and_the_floors_to_their_subset():
    exp3 = "exp3: ≤ 4 j, ≤ 2 b, nothing else"
    metrics = pd.DataFrame(
        {
            "run": ["truth vs truth (floor)", "truth vs truth (floor)", "exp3/beta_0p5/normal"],
            "subset": ["all events", exp3, exp3],
            "auc_full": [0.50, 0.51, 0.83],
            "invalid_event_rate_percent": [math.nan, math.nan, 5.5],
            "prior": ["", "", "normal"],
        }
    )
    per_variable = pd.DataFrame(
        {
            "run": ["floor (exp3)", "exp3/beta_0p5/normal", "exp3/beta_0p5/normal", "exp3/beta_0p5/normal"],
            "variable": ["ht", "ht", "met", "jet2_pt"],
            "w1_sample": [0.012, 0.09, 0.03, 0.2],
        }
    )
    out = report_metrics(metrics, per_variable, timestamp=1)
    values = {run: {m.key: m.value for m in ms} for run, ms in out.items()}
    assert values == {
        "floor.all": {"auc_full": 0.50},
        "floor.exp3": {"auc_full": 0.51, "w1_ht": 0.012},
        "exp3/beta_0p5/normal": {"auc_full": 0.83, "invalid_event_rate_percent": 5.5, "w1_ht": 0.09, "w1_met": 0.03},
    }


def test_git_commit_names_the_checked_out_commit_and_says_when_it_is_dirty(tmp_path):
    assert git_commit(tmp_path) == "unknown"  # not a repository
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.txt").write_text("one")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert len(head) == 40 and git_commit(tmp_path) == head
    (tmp_path / "b.txt").write_text("untracked files do not make it dirty")
    assert git_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("two")
    assert git_commit(tmp_path) == f"{head}+dirty"


@pytest.mark.parametrize("bad", [math.inf, "n/a", None])
def test_values_that_are_not_finite_numbers_are_not_logged(bad):
    metrics = pd.DataFrame({"run": ["exp2/beta_0p2/normal"], "subset": ["all events"], "auc_full": [bad]})
    per_variable = pd.DataFrame({"run": ["exp2/beta_0p2/normal"], "variable": ["met"], "w1_sample": [bad]})
    assert report_metrics(metrics, per_variable, timestamp=1) == {"exp2/beta_0p2/normal": []}
