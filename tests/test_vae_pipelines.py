"""`kedro run` of the VAE experiments end to end on a small sample (issue #5)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import kedro
from kedro.pipeline import Node

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.datasets import LatentPriorDataset
from lhc_vae.events.darkmachines import read_darkmachines, write_darkmachines
from lhc_vae.events.schema import SYMBOL_SLUG, SYMBOLS
from lhc_vae.pipeline_registry import register_pipelines
from lhc_vae.tags import sample_dataset

pytestmark = pytest.mark.slow


def test_sweeps_are_namespaced_groups():
    pipes = register_pipelines()
    for name, values in (
        ("exp3_sweep", ["0p5", "0p7", "1", "1p2", "1p5", "2"]),
        ("baseline_sweep", ["0p1", "0p2", "0p3", "0p4"]),
        ("exp1_sweep", ["0p1", "0p2", "0p3", "0p4"]),
        ("exp2_sweep", ["0p5", "0p7", "1", "1p2", "1p5"]),
    ):
        namespaces = {n.namespace for n in pipes[name].nodes}
        variator = "beta" if name.startswith(("exp2", "exp3")) else "alpha"
        assert namespaces == {f"{name}.{variator}_{v}" for v in values}
    assert {n.name.split(".")[-1] for n in pipes["exp3_generate"].nodes} == {"fit_latent_prior", "generate_events"}
    assert "params:beta" in pipes["exp3"].inputs() and "params:exp3" in pipes["exp3"].inputs()


def test_default_pipeline_runs_each_experiment_at_its_default_value_and_the_runs_beyond_the_thesis():
    pipes = register_pipelines()
    default = pipes["__default__"]
    # Table 8.1's alpha for the alpha-VAEs; beta 0.2 (exp II) and 0.5 (exp III): 1.5 blurs them (issue #12),
    # and exp III's models once more with a BGMM latent prior, then refined by a classifier (beyond the thesis)
    expected = {
        "baseline_sweep.alpha_0p2",
        "exp1_sweep.alpha_0p3",
        "exp2_sweep.beta_0p2",
        "exp3_sweep.beta_0p5",
        "exp3_sweep.beta_0p5.bgmm",
        "exp3_sweep.beta_0p5.refined",
    }
    assert {n.namespace for n in default.nodes if n.namespace} == expected
    assert set(pipes["preprocessing"].nodes) <= set(default.nodes)
    # the report takes each run's catalog datasets: report <- generation <- training in the DAG
    (metrics_node,) = [n for n in default.nodes if n.name == "compute_metrics"]
    assert {i for i in metrics_node.inputs if i.startswith("report_sample__")} == {
        sample_dataset(ns) for ns in expected
    }
    for ns in expected:
        (sample,) = [n for n in default.nodes if n.name == f"{ns}.report_sample"]
        assert sample.outputs == [sample_dataset(ns)]
        # the BGMM and refined runs generate with the sweep run's models
        trained = "exp3_sweep.beta_0p5" if ns.startswith("exp3") else ns
        generated = {f"{ns}.{d}" for d in ("generated_events", "generated_objects", "generation_stats")}
        assert set(sample.inputs) == generated | {f"{trained}.training", "params:report"}
    (bgmm_prior,) = [n for n in default.nodes if n.name == "exp3_sweep.beta_0p5.bgmm.fit_latent_prior"]
    assert {
        "exp3_sweep.beta_0p5.encoder",
        "exp3_sweep.beta_0p5.decoder",
        "exp3_sweep.beta_0p5.bgmm.latent_prior",
    } <= set(bgmm_prior.inputs)
    (refined,) = [n for n in default.nodes if n.name == "exp3_sweep.beta_0p5.refined.generate_refined"]
    assert {
        "exp3_sweep.beta_0p5.decoder",
        "exp3_sweep.beta_0p5.bgmm.prior",
        "primary_events",
        "params:refine",
    } <= set(refined.inputs)
    assert not any("generated_runs" in i or "trained_models" in i for n in default.nodes for i in n.inputs)
    # the report is the last step: every experiment's generation runs before it
    order = [n.name for n in default.nodes]
    assert order.index("compute_metrics") > max(
        i for i, n in enumerate(default.nodes) if n.name.endswith("generate_events")
    )


def test_no_pipeline_uses_a_dotted_name_outside_its_namespace():
    """Kedro keeps dotted dataset names for namespaces: a node may use ``a.b.x`` only inside the
    top-level namespace ``a`` (its warning, once per process, would otherwise be printed by every
    run), and a path through the DAG never re-enters a namespace it left."""
    Node.__dotted_dataset_name_warned__ = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipes = register_pipelines()
    assert not [w for w in caught if "'.' characters" in str(w.message)]
    assert not [w for w in caught if "is interrupted" in str(w.message)]  # every namespace is one block
    for p in pipes.values():
        for n in p.nodes:
            for name in (*n.inputs, *n.outputs):
                if "." in name and not name.startswith("params:"):
                    assert n.namespace and name.split(".")[0] == n.namespace.split(".")[0], (n.name, name)


@pytest.mark.long
def test_exp3_trains_generates_and_regenerates(project):
    raw = project / "data" / "01_raw" / "pythia" / "ttbar.csv"
    write_darkmachines(make_tables(2500, seed=8), raw)
    proc = kedro(project, "run", "--pipeline=exp3", check=False)
    assert proc.returncode != 0
    out = "".join((proc.stdout + proc.stderr).split())
    assert "model_input" in out and "kedrorun--pipeline=preprocessing" in out
    assert not (project / "mlruns").exists()  # tracking.enabled false (the project fixture): no MLflow store opened

    kedro(project, "run", "--pipeline=preprocessing")
    assert not (project / "mlruns").exists() and not (project / "mlflow.db").exists()  # a whole run, tracking off
    tracked = "tracking.enabled=true"  # the project fixture switches tracking off
    # generated in 3 chunks of 1000 events, each written as it is made (issue #14 item 5)
    chunks = "generation.chunk_events=1000"
    kedro(project, "run", "--pipeline=exp3", "--params", f"beta=0.5,exp3.epochs=1,n_generate=3000,{chunks},{tracked}")
    models = project / "data" / "06_models" / "pythia" / "ttbar" / "exp3" / "beta_0p5"
    assert (
        (models / "encoder.keras").is_file()
        and (models / "decoder.keras").is_file()
        and (models / "loss.png").is_file()
    )
    training = json.loads((models / "training.json").read_text())
    assert training["epochs"] == 1 and training["beta"] == 0.5 and training["encoder_params"] == 1_168_960
    assert (
        training["effective_beta"] == 0.5
        and training["reconstruction_loss"] == "sum over features per event, mean over events"
    )
    out_dir = project / "data" / "07_model_output" / "pythia" / "ttbar" / "exp3" / "beta_0p5" / "prior_auto"
    stats = json.loads((out_dir / "generation_stats.json").read_text())
    assert stats["n_generated"] == 3000 and stats["latent_prior"] == "normal" and stats["from_noise"]
    assert stats["ms_per_event_t1k"] > 0 and stats["events_per_second_steady"] > 0
    parsed = read_darkmachines(out_dir / "ttbar.csv")
    assert parsed.n_rejected == 0 and parsed.tables.n_events == 3000 and stats["n_chunks"] == 3
    np.testing.assert_array_equal(parsed.tables.events["event_id"], np.arange(3000))
    generated = pd.read_parquet(out_dir / "events.parquet")
    np.testing.assert_array_equal(generated["event_index"], np.arange(3000))
    np.testing.assert_allclose(generated["met"], parsed.tables.events["met"], rtol=1e-5)
    assert set(parsed.tables.objects["type"].astype(str)) <= {"j", "b"}
    check_tracked_training(project, training, stats)

    # generation only, another prior, no retraining; a beta never trained fails with the command
    trained_at = (models / "decoder.keras").stat().st_mtime_ns
    kedro(
        project,
        "run",
        "--pipeline=exp3_generate",
        "--params",
        "beta=0.5,n_generate=2000,latent_prior=bgmm,bgmm_components=3",
    )
    bgmm = json.loads((out_dir.parent / "prior_bgmm3" / "generation_stats.json").read_text())
    assert bgmm["latent_prior"] == "bgmm" and bgmm["n_generated"] == 2000
    prior = LatentPriorDataset(str(models / "prior_bgmm3.npz")).load()  # fitted on the 128-d encodings' active dims
    mixture, active = prior["mixture"], prior["active_dims"]
    assert prior["kind"] == "bgmm" and prior["components"] == 3 and 0 < len(active) <= 128
    assert mixture["means"].shape == (3, len(active)) and mixture["covariances"].shape == (3, len(active), len(active))
    assert mixture["weights"].sum() == pytest.approx(1.0)
    assert (models / "decoder.keras").stat().st_mtime_ns == trained_at
    proc = kedro(project, "run", "--pipeline=exp3_generate", "--params", "beta=0.7", check=False)
    out = "".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0 and "beta_0p7/encoder.kerasdoesnotexist" in out and "kedrorun--pipeline=exp3" in out

    # the baseline alpha-VAE: generation perturbs held-out truth encodings, and says so
    kedro(project, "run", "--pipeline=baseline", "--params", "alpha=0.2,baseline.epochs=1,n_generate=1000")
    base = project / "data" / "07_model_output" / "pythia" / "ttbar" / "baseline" / "alpha_0p2" / "prior_auto"
    bstats = json.loads((base / "generation_stats.json").read_text())
    assert bstats["latent_prior"] == "truth" and not bstats["from_noise"] and "real validation event" in bstats["note"]
    assert (
        bstats["start_point"].startswith("truth event")
        and bstats["invalid_event_rate_raw_percent"] >= bstats["invalid_event_rate_percent"]
    )
    assert read_darkmachines(base / "ttbar.csv").n_rejected == 0

    # the report of one run, beside it: against the whole test split of its subset (exp III: <= 4 j, <= 2 b)
    kedro(project, "run", "--pipeline=exp3_report", "--params", "beta=0.5,report.n_bootstrap=5")
    events = pd.read_parquet(project / "data" / "03_primary" / "pythia" / "ttbar" / "events.parquet")
    test = events[events["split"] == "test"]
    subset = test[(test["n_j"] <= 4) & (test["n_b"] <= 2) & (test["n_objects"] == test["n_j"] + test["n_b"])]
    one = pd.read_csv(out_dir / "report" / "metrics.csv").set_index("run")
    assert list(one.index) == ["truth vs truth (floor)", "exp3/beta_0p5/normal"]
    assert (one["subset"] == "exp3: ≤ 4 j, ≤ 2 b, nothing else").all() and (one["n_truth"] == len(subset)).all()
    # every run is compared at the floor's sample size: as many generated events as validation events
    val = events[events["split"] == "validation"]
    n_val = int(((val["n_j"] <= 4) & (val["n_b"] <= 2) & (val["n_objects"] == val["n_j"] + val["n_b"])).sum())
    assert (one["n_generated"] == n_val).all() and one.loc["exp3/beta_0p5/normal", "effective_beta"] == 0.5

    # experiments I and II at their default values, exp III's runs beyond the thesis (a 1-epoch model, so a
    # low w_max keeps enough candidates), then the default report
    kedro(project, "run", "--pipeline=exp1", "--params", "alpha=0.3,exp1.epochs=1,n_generate=1000")
    kedro(
        project,
        "run",
        "--pipeline=exp2",
        "--params",
        "beta=0.2,exp2.epochs=1,n_generate=4000,generation.chunk_events=1500",
    )
    check_exp2_run(project)  # its masks, benchmark and own report
    beyond = "report.n_bootstrap=5,bgmm_components=3,n_generate=1000,refine.w_max=0.05"
    kedro(project, "run", "--pipeline=beyond_thesis", "--params", beyond)
    refined = project / "data" / "07_model_output" / "pythia" / "ttbar" / "exp3" / "beta_0p5" / "prior_bgmm3_refined"
    rstats = json.loads((refined / "generation_stats.json").read_text())
    assert rstats["n_generated"] == 1000 and rstats["latent_prior"] == "bgmm+refined" and rstats["from_noise"]
    assert rstats["refinement"]["candidates"] >= 1000 and 0 < rstats["refinement"]["acceptance"] <= 1
    (stage,) = rstats["refinement"]["stages"]  # refine.w_max=0.05: one value, one stage
    assert stage["w_max"] == 0.05 and stage["candidates"] == rstats["refinement"]["candidates"]
    assert stage["acceptance"] == pytest.approx(rstats["refinement"]["acceptance"])
    assert read_darkmachines(refined / "ttbar.csv").tables.n_events == 1000
    kedro(project, "run", "--pipeline=report", "--params", f"report.n_bootstrap=5,bgmm_components=3,{tracked}")
    reporting = project / "data" / "08_reporting" / "pythia" / "ttbar"
    metrics = pd.read_csv(reporting / "metrics.csv")
    runs = [
        "baseline/alpha_0p2/truth",
        "exp1/alpha_0p3/truth",
        "exp2/beta_0p2/normal",
        "exp3/beta_0p5/normal",
        "exp3/beta_0p5/bgmm",
        "exp3/beta_0p5/bgmm+refined",
    ]
    assert sorted(metrics["run"]) == sorted(["truth vs truth (floor)"] * 2 + runs)
    floors = metrics[metrics["run"] == "truth vs truth (floor)"].set_index("subset")
    assert floors.loc["all events", "n_truth"] == len(test) and floors.loc[
        "exp3: ≤ 4 j, ≤ 2 b, nothing else", "n_truth"
    ] == len(subset)
    # ranked within a truth subset: the three full-event runs 1-3, exp III's three runs 1-3 on its subset
    ranks = metrics.set_index("run")["rank_auc_full"]
    assert sorted(ranks[runs[:3]]) == [1, 2, 3] and sorted(ranks[runs[3:]]) == [1, 2, 3]
    page = (reporting / "report.html").read_text()
    table = page.split("<table>")[1]
    for run in (*runs, "thesis baseline", "thesis exp3", "truth vs truth (floor)"):
        assert run in table, run
    assert (
        "binning.json" in page and (reporting / "binning.json").is_file() and (reporting / "separation.csv").is_file()
    )
    check_tracked_report(project, metrics, pd.read_csv(reporting / "metrics_per_variable.csv"), runs)


def check_exp2_run(project) -> None:
    """Experiment II at beta = 0.2 (``kedro run --pipeline=exp2 --params beta=0.2,n_generate=4000``),
    then its benchmark and its own report: the project of the test above trains every experiment
    once for the default report, and that exp II training serves both."""
    models = project / "data" / "06_models" / "pythia" / "ttbar" / "exp2" / "beta_0p2"
    gen = json.loads((models / "mask_generator.json").read_text())
    assert gen["level_one_mass"] >= 0.85 and gen["symbols"] == list(SYMBOLS)
    names = ["met", *SYMBOL_SLUG.values(), "j_lead", "b_lead"]  # exp2.leading_models: true
    assert sorted(p.name for p in (models / "components").iterdir()) == sorted(names)
    # beta in the loss is the thesis's beta (summed reconstruction, issue #11): recorded per component
    training = json.loads((models / "training.json").read_text())
    for record in training["components"].values():
        assert record["beta"] == record["effective_beta"] == 0.2
        assert record["reconstruction_loss"] == "sum over features per event, mean over events"
    # the leading models learn one jet (b-jet) per training event that has one, j and b the others
    truth = pd.read_parquet(project / "data" / "03_primary" / "pythia" / "ttbar" / "events.parquet")
    train = truth[truth["split"] == "train"]
    rows = {name: rec["n_train"] for name, rec in training["components"].items()}
    for slug in ("j", "b"):
        assert rows[f"{slug}_lead"] == (train[f"n_{slug}"] > 0).sum()
        assert rows[slug] == train[f"n_{slug}"].sum() - rows[f"{slug}_lead"]
    out = project / "data" / "07_model_output" / "pythia" / "ttbar" / "exp2" / "beta_0p2" / "prior_auto"
    stats_ = json.loads((out / "generation_stats.json").read_text())
    assert stats_["from_noise"] and stats_["n_generated"] == 4000 and stats_["n_chunks"] == 3  # chunks of 1 500
    assert (out / "masks" / "masks_frequent.png").is_file() and (out / "masks" / "masks_rare.png").is_file()
    parsed = read_darkmachines(out / "ttbar.csv")
    assert parsed.n_rejected == 0 and parsed.tables.n_events == 4000
    # generated multiplicities follow the training masks: mean jets within a few per cent
    events = pd.read_parquet(out / "events.parquet")
    np.testing.assert_array_equal(events["event_index"], np.arange(4000))
    np.testing.assert_array_equal(parsed.tables.events["event_id"], np.arange(4000))
    assert events["n_j"].mean() == pytest.approx(truth.loc[truth["split"] == "train", "n_j"].mean(), rel=0.05)

    # the benchmark times the MC chain and the run's trained models (its catalog datasets); the report shows it
    kedro(
        project,
        "run",
        "--pipeline=exp2_benchmark",
        "--params",
        "beta=0.2,benchmark.mc_block_size=30,benchmark.large_batch=5000",
    )
    bench = json.loads((out / "report" / "benchmark.json").read_text())  # beside the run, with its report
    assert (
        bench["mc"]["events_tried"] == 30 and bench["mc"]["n_blocks"] == 1 and bench["mc"]["ms_per_event_per_core"] > 0
    )
    assert bench["mc"]["sample"] is None  # no MC sample in this project (the data came from make_tables)
    model = bench["models"]["exp2/beta_0p2"]
    assert model["flops_per_event"] > 0 and 0 < model["roofline_percent"] < 100
    assert model["start_point"].startswith("noise") and bench["one_core_process"]["cpus"] == 1
    assert model["speedup_1core"] == pytest.approx(
        bench["mc"]["ms_per_event_per_core"] / model["one_core"]["ms_per_event_steady"]
    )
    assert model["speedup_all_cores"] == pytest.approx(
        bench["mc"]["ms_per_event_all_cores"] / model["ms_per_event_steady"]
    )
    matmul = bench["matmul"]["all_cores"]
    assert bench["preprocessing"]["events"] == 2500 and bench["matmul_gflops"] == matmul["median_gflops"] > 1
    assert matmul["min_gflops"] <= matmul["median_gflops"] <= matmul["max_gflops"] and matmul["n"] >= 5
    # the report of the run, beside it, with the thesis rows, the truth floor and the speed table
    kedro(project, "run", "--pipeline=exp2_report", "--params", "beta=0.2,report.n_bootstrap=5")
    reporting = out / "report"
    page = (reporting / "report.html").read_text()
    assert "exp2/beta_0p2/normal" in page and "thesis exp2 β=1.5" in page and "truth vs truth (floor)" in page
    # MET, phi(MET), total energy and the test project's two leading-object variables (conftest), the
    # correlations and the speed table
    assert page.count("data:image/png;base64,") == 3 + 2 + 1 + 1
    metrics = pd.read_csv(reporting / "metrics.csv").set_index("run")
    assert list(metrics.index) == ["truth vs truth (floor)", "exp2/beta_0p2/normal"]
    test = truth[truth["split"] == "test"]
    n_val = int((truth["split"] == "validation").sum())  # every run at the floor's size
    assert (metrics["n_truth"] == len(test)).all() and (metrics["n_generated"] == n_val).all()
    assert metrics.loc["exp2/beta_0p2/normal", "effective_beta"] == 0.2
    assert "speed-up vs MC, 1 core each" in page


def mlflow_runs(project) -> pd.DataFrame:
    """Every MLflow run of the project's store (kedro-mlflow, lhc_vae.tracking), newest first."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlruns' / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=["lhc-vae-ttbar"], order_by=["start_time DESC"])


def check_tracked_training(project, training: dict, stats: dict) -> None:
    """The exp III run of ``kedro run --pipeline=exp3`` is an MLflow run nested in the session's, with
    its parameters, its loss history per epoch, its timing and its models and records as artifacts."""
    from mlflow.tracking import MlflowClient

    runs = mlflow_runs(project)
    session = runs[runs["tags.mlflow.runName"] == "exp3"].iloc[0]
    run = runs[runs["tags.mlflow.runName"] == "exp3/beta_0p5/normal"].iloc[0]
    assert run["tags.mlflow.parentRunId"] == session["run_id"] and run["status"] == "FINISHED"
    assert run["params.experiment"] == "exp3" and float(run["params.beta"]) == 0.5 and run["params.epochs"] == "1"
    assert int(run["params.n_train_events"]) == training["n_train_events"] and run["params.process"] == "ttbar"
    assert run["params.sample_events"] == "2500" and run["params.seed"] == "42"
    assert run["params.latent_prior"] == "normal"
    assert len(run["params.git_commit"]) >= 7 and session["params.exp3.epochs"] == "1"  # kedro-mlflow's own logging
    client = MlflowClient()
    history = client.get_metric_history(run["run_id"], "loss")
    assert [(m.step, m.value) for m in history] == [(0, pytest.approx(training["history"]["loss"][0]))]
    assert run["metrics.ms_per_event_steady"] == pytest.approx(stats["ms_per_event_steady"])
    assert run["metrics.invalid_event_rate_percent"] == pytest.approx(stats["invalid_event_rate_percent"])
    artifacts = {a.path for folder in ("", "model", "figures") for a in client.list_artifacts(run["run_id"], folder)}
    assert {"model/encoder.keras", "model/decoder.keras", "model/prior_auto.npz", "figures/loss.png"} <= artifacts
    assert {"training.json", "generation_stats.json"} <= artifacts


def check_tracked_report(project, metrics: pd.DataFrame, per_variable: pd.DataFrame, labels: list[str]) -> None:
    """``kedro run --pipeline=report``: each run of the report is a nested MLflow run carrying its report
    numbers (those of metrics.csv), the floors go on the session's run, with report.html as an artifact."""
    from mlflow.tracking import MlflowClient

    runs = mlflow_runs(project)
    session = runs[runs["tags.mlflow.runName"] == "report"].iloc[0]
    children = runs[runs["tags.mlflow.parentRunId"] == session["run_id"]].set_index("tags.mlflow.runName")
    assert sorted(children.index) == sorted(labels)
    by_run = metrics.set_index(["run", "subset"])
    for label in labels:
        row = metrics[metrics["run"] == label].iloc[0]
        assert children.loc[label, "metrics.auc_full"] == pytest.approx(row["auc_full"])
        assert children.loc[label, "metrics.invalid_event_rate_percent"] == pytest.approx(
            row["invalid_event_rate_percent"]
        )
        ht = per_variable[(per_variable["run"] == label) & (per_variable["variable"] == "ht")]["w1_sample"]
        assert children.loc[label, "metrics.w1_ht"] == pytest.approx(float(ht.iloc[0]))
    floor = by_run.loc[("truth vs truth (floor)", "all events"), "auc_full"]
    assert session["metrics.floor.all.auc_full"] == pytest.approx(floor)
    assert "report/report.html" in {a.path for a in MlflowClient().list_artifacts(session["run_id"], "report")}
