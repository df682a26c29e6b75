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


class _NoFiles:
    """A catalog without files: nothing on disk to read or to log as an artifact."""

    def exists(self, name: str) -> bool:
        return False

    def get(self, name: str):
        return None


def test_runs_get_the_reports_names_and_training_whatever_the_order_of_saves(tmp_path):
    """Against a real MLflow store: a multi-model run saves its generation record before its training
    summary; a BGMM run of models trained in the same session takes their training parameters."""
    from mlflow.tracking import MlflowClient

    from lhc_vae.tracking import RunTracking

    hook = RunTracking()
    hook.enabled, hook._tracking, hook.log_models = True, True, False
    hook.client = client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    hook.experiment_id = client.create_experiment("t", artifact_location=str(tmp_path / "artifacts"))
    hook.run_id = client.create_run(hook.experiment_id).info.run_id
    hook._catalog = _NoFiles()
    hook._produced = {"exp1_sweep.alpha_0p3.training", "exp3_sweep.beta_0p5.training"}
    hook._session_params = {"git_commit": "abc", "process": "ttbar", "seed": 42}

    multi = "exp1_sweep.alpha_0p3"
    hook._saved(f"{multi}.generation_stats", {"experiment": "exp1", "latent_prior": "truth", "n_generated": 10}, None)
    run = client.get_run(hook._runs[multi])
    assert run.info.run_name == multi and "alpha" not in run.data.params  # its training is still to come
    training = {"experiment": "exp1", "variator": "alpha", "alpha": 0.3, "seed": 7}
    training["components"] = {"j": {"n_train": 5, "epochs": 2, "history": {"loss": [2.0, 1.0]}}}
    hook._saved(f"{multi}.training", training, None)
    run = client.get_run(hook._runs[multi])
    assert run.info.run_name == "exp1/alpha_0p3/truth" and run.data.params["alpha"] == "0.3"
    assert run.data.params["seed"] == "7"  # the run's own seed, not the session's 42
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "j.loss")] == [(0, 2.0), (1, 1.0)]
    assert run.data.tags["mlflow.parentRunId"] == hook.run_id

    hook._saved("exp3_sweep.beta_0p5.training", {"experiment": "exp3", "variator": "beta", "beta": 0.5}, None)
    bgmm = "exp3_sweep.beta_0p5.bgmm"
    hook._saved(f"{bgmm}.generation_stats", {"experiment": "exp3", "latent_prior": "bgmm", "n_generated": 10}, None)
    run = client.get_run(hook._runs[bgmm])
    assert run.info.run_name == "exp3/beta_0p5/bgmm" and run.data.params["beta"] == "0.5"
    assert run.data.tags["trained_in"] == "exp3_sweep.beta_0p5"
    assert hook._labels == {"exp1/alpha_0p3/truth": multi, "exp3/beta_0p5/bgmm": bgmm}
