"""Experiment tracking with kedro-mlflow (issue #15 item 1).

kedro-mlflow opens one MLflow run per ``kedro run`` (the *session run*) and logs every parameter a
node takes. :class:`RunTracking` extends its hook with one nested MLflow run per training and
generation run of the project (a Kedro namespace such as ``exp3_sweep.beta_0p5``, named by the
report's label ``exp3/beta_0p5/normal``), so that the runs of a sweep sit side by side in
``kedro mlflow ui`` under one MLflow experiment per process (``conf/base/mlflow.yml``). Each such
run holds:

* parameters: experiment, variator and its value (alpha or beta; thesis §4.2), latent prior, events
  in the sample, training events, epochs and optimizer steps, seed, process, source, git commit;
* metrics: the loss history per epoch (``loss``, ``val_loss``, ... with the epoch as step; a
  multi-model experiment's components as ``<component>.loss``), training seconds and events/s, time
  per generated event, and the report's IER, full-event AUC, W1 (sample, and of MET, HT and the
  leading jet's pT) and the other metrics of thesis ch. 6 when the report runs in the same session;
* artifacts: the trained models (``model/``), ``training.json``, ``generation_stats.json`` and the
  run's figures (loss curve, mask proportions).

The session run gets the report (``report.html``, its figures and tables). Everything is read from
the datasets the pipelines save (``after_dataset_saved``): nodes know nothing of tracking, and
``--params tracking.enabled=false`` switches all of it off (no MLflow store is touched).
"""

from __future__ import annotations

import logging
import math
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pyarrow.parquet as pq
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.utils import find_kedro_project
from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from mlflow.entities import Metric, Param, RunStatus

from lhc_vae.io import Chunk
from lhc_vae.tags import FLOOR, floor_subset, run_label, trained_namespace

log = logging.getLogger(__name__)

#: Datasets of a run (``<namespace>.<kind>``) logged as artifacts, and where in the run.
ARTIFACTS = {
    "encoder": "model",
    "decoder": "model",
    "prior": "model",
    "mask_generator": "model",
    "training": "",
    "generation_stats": "",
    "loss_plot": "figures",
    "mask_plots": "figures",
}
#: Scalars of a training record (``training.json``) logged as parameters.
TRAINING_PARAMS = (
    "experiment",
    "variator",
    "alpha",
    "beta",
    "effective_beta",
    "seed",
    "n_train_events",
    "n_validation_events",
    "epochs",
    "epoch_kept",
    "stopped_by",
    "optimizer_steps",
    "max_epochs",
    "max_steps",
    "max_seconds",
)
#: Scalars of a training record logged as metrics.
TRAINING_METRICS = ("training_seconds", "training_events_per_second", "best_val_loss", "optimizer_steps")
#: Scalars of a generation record (``generation_stats.json``) logged as parameters and metrics.
GENERATION_PARAMS = ("latent_prior", "from_noise", "n_generated", "start_point")
GENERATION_METRICS = (
    "ms_per_event_t1k",
    "ms_per_event_steady",
    "events_per_second_steady",
    "invalid_event_rate_percent",
    "invalid_event_rate_raw_percent",
    "mean_objects_per_event",
    "ier_independent_truth_percent",
)
#: Columns of the report's metrics table logged per run (thesis eq. 6.5-6.7 and issue #11).
REPORT_METRICS = (
    "auc_full",
    "auc_full_err",
    "auc_summary",
    "w1_sample",
    "w1_binned",
    "wd_thesis",
    "js",
    "kl",
    "fpd",
    "kpd",
    "coverage",
    "correlation_distance",
    "multiplicity_js_mean",
    "invalid_event_rate_percent",
)
#: Variables of the per-variable table whose sample W1 is logged as ``w1_<variable>`` (issue #12's targets).
REPORT_VARIABLES = ("met", "ht", "jet1_pt")
#: MLflow takes at most this many metrics in one batch.
BATCH = 1000


def sqlite_uri(path: str) -> str:
    """``mlruns/mlflow.db`` -> ``sqlite:////<project>/mlruns/mlflow.db``: an SQLite store at a path
    relative to the Kedro project that holds the working directory (a session started from
    ``notebooks/`` included), made absolute so that MLflow's cached connections never mix two
    projects' stores."""
    root = find_kedro_project(Path.cwd()) or Path.cwd()
    return f"sqlite:///{(Path(root) / path).resolve()}"


def git_commit(path: Path) -> str:
    """The commit checked out at ``path`` (``+dirty`` with uncommitted changes), or ``unknown``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def training_params(training: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of a training record: :data:`TRAINING_PARAMS`, and for a multi-model experiment
    (exp I, II) the training events, epochs and stopping reason of each component."""
    params = {k: training[k] for k in TRAINING_PARAMS if k in training and _scalar(training[k])}
    for name, comp in (training.get("components") or {}).items():
        for key in ("n_train", "epochs", "epoch_kept", "stopped_by", "optimizer_steps"):
            if key in comp and _scalar(comp[key]):
                params[f"{name}.{key}"] = comp[key]
    return params


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def training_metrics(training: Mapping[str, Any], timestamp: int) -> list[Metric]:
    """The loss history per epoch (step = epoch, from 0) and :data:`TRAINING_METRICS`; a
    multi-model experiment's components prefixed ``<component>.``."""
    parts = [("", training), *((f"{name}.", comp) for name, comp in (training.get("components") or {}).items())]
    metrics = []
    for prefix, record in parts:
        for key, values in (record.get("history") or {}).items():
            metrics += [
                Metric(f"{prefix}{key}", float(v), timestamp, step) for step, v in enumerate(values) if _finite(v)
            ]
        metrics += [
            Metric(f"{prefix}{k}", float(record[k]), timestamp, 0) for k in TRAINING_METRICS if _finite(record.get(k))
        ]
    return metrics


def generation_metrics(stats: Mapping[str, Any], timestamp: int) -> list[Metric]:
    """Time per event, IER and, for a refined run, its refiner's acceptance and AUC."""
    metrics = [Metric(k, float(stats[k]), timestamp, 0) for k in GENERATION_METRICS if _finite(stats.get(k))]
    refinement = stats.get("refinement") or {}
    metrics += [
        Metric(f"refinement.{k}", float(v), timestamp, 0)
        for k, v in refinement.items()
        if k in ("acceptance", "holdout_auc_raw_generator", "fit_seconds") and _finite(v)
    ]
    for k, stage in enumerate(refinement.get("stages") or [], 1):
        metrics += [
            Metric(f"refinement.stage{k}.{key}", float(stage[key]), timestamp, 0)
            for key in ("holdout_auc", "acceptance")
            if _finite(stage.get(key))
        ]
    return metrics


def report_metrics(metrics: pd.DataFrame, per_variable: pd.DataFrame | None, timestamp: int) -> dict[str, list[Metric]]:
    """The report's numbers per run label: :data:`REPORT_METRICS` from the metrics table and
    ``w1_<variable>`` of :data:`REPORT_VARIABLES` from the per-variable table."""
    out: dict[str, list[Metric]] = {}
    for _, row in metrics.iterrows():
        out[_row_key(row)] = [
            Metric(k, float(row[k]), timestamp, 0) for k in REPORT_METRICS if k in row and _finite(_number(row[k]))
        ]
    if per_variable is not None:
        chosen = per_variable[per_variable["variable"].isin(REPORT_VARIABLES)]
        for _, row in chosen.iterrows():
            value = _number(row["w1_sample"])
            if _finite(value):
                out.setdefault(_row_key(row), []).append(Metric(f"w1_{row['variable']}", value, timestamp, 0))
    return out


def _row_key(row: pd.Series) -> str:
    """A run's label; a truth-vs-truth floor row ``floor.<subset>`` (``floor.all``, ``floor.exp3``)."""
    label = str(row["run"])
    if label == FLOOR:  # metrics table: the subset in its own column
        subset = str(row.get("subset", "all"))
    elif (subset := floor_subset(label)) is None:  # per-variable table: floor (<subset>)
        return label
    return "floor." + ("all" if subset.startswith("all") else subset.split(":")[0].strip())


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _kind(dataset_name: str) -> tuple[str, str]:
    """``exp3_sweep.beta_0p5.encoder`` -> (``exp3_sweep.beta_0p5``, ``encoder``); no namespace -> ("", name)."""
    namespace, _, kind = dataset_name.rpartition(".")
    return namespace, kind


class RunTracking(MlflowHook):
    """kedro-mlflow's hook, switched by the parameter ``tracking.enabled``, plus one nested MLflow run
    per training or generation run (module docstring). Registered in ``settings.py`` in place of the
    plugin's own instance (``DISABLE_HOOKS_FOR_PLUGINS``)."""

    def __init__(self) -> None:
        super().__init__()
        self.enabled = False
        self._reset()

    def _reset(self) -> None:
        self.run_id = None  # the session run, set by kedro-mlflow's before_pipeline_run
        self._tracking = False  # this session logs (enabled, and no MLflow error so far)
        self._catalog = None
        self._runs: dict[str, str] = {}  # namespace -> MLflow run id
        self._labels: dict[str, str] = {}  # report label -> namespace
        self._with_training: dict[str, Mapping[str, Any]] = {}  # namespace -> its logged training record
        self._session_params: dict[str, Any] = {}
        self._report: dict[str, pd.DataFrame] = {}
        self._stats: dict[str, Mapping[str, Any]] = {}  # namespace -> its generation record
        self._produced: set[str] = set()  # datasets this session's pipeline writes

    def _safely(self, what: str, call: Callable[..., Any], *args: Any) -> None:
        """Tracking never stops a run: an error of the store (locked, full disk, a limit of MLflow)
        is logged once and the session goes on without tracking."""
        if not self._tracking:
            return
        try:
            call(*args)
        except Exception as err:  # whatever the store raises, the pipeline goes on
            self._tracking = False
            log.warning("MLflow tracking stopped for this run at %s (%s: %s)", what, type(err).__name__, err)

    # ---- kedro-mlflow's hooks, only when tracking is on ----
    @hook_impl
    def after_context_created(self, context) -> None:
        settings = context.params.get("tracking") or {}
        self.enabled = bool(settings.get("enabled", True))
        self.log_models = bool(settings.get("log_models", True))
        self.project_path = Path(context.project_path)
        if self.enabled:
            super().after_context_created(context)
        else:  # the settings without a store (`kedro mlflow ui` reads them), nothing set up
            try:
                settings = context.config_loader["mlflow"]
            except MissingConfigException:
                settings = {}
            context.__setattr__("mlflow", KedroMlflowConfig.model_validate(settings))

    @hook_impl
    def after_catalog_created(self, catalog, conf_catalog, conf_creds, parameters, save_version, load_versions):
        if self.enabled:
            super().after_catalog_created(catalog, conf_catalog, conf_creds, parameters, save_version, load_versions)

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._reset()
        self._tracking = self.enabled
        self._safely("the start of the run", self._start, run_params, pipeline, catalog)

    def _start(self, run_params, pipeline, catalog) -> None:
        super().before_pipeline_run(run_params, pipeline, catalog)
        if not self._is_mlflow_enabled or self.run_id is None:  # kedro-mlflow's disable_tracking.pipelines
            self._tracking = False
            return
        self._catalog = catalog
        self._produced = set(pipeline.all_outputs())
        self.client = self.mlflow_config.server._mlflow_client
        self.experiment_id = self.mlflow_config.tracking.experiment._experiment.experiment_id
        self._session_params = {"git_commit": git_commit(self.project_path)}
        for key in ("process", "source", "seed"):
            if catalog.exists(f"params:{key}"):
                self._session_params[key] = catalog.load(f"params:{key}")
        self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in self._session_params.items()])

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async) -> None:
        self._safely(f"node {node.name}", self._node_params, node, catalog, inputs, is_async)

    def _node_params(self, node, catalog, inputs, is_async) -> None:
        active = mlflow.active_run()
        if active is None or active.info.run_id != self.run_id:
            super().before_node_run(node, catalog, inputs, is_async)
            return
        # The session run is active: the plugin would start it again for threaded runners, and MLflow 3
        # stacks a second entry that the run's end leaves behind (the next session then finds it active).
        run_id, self.run_id = self.run_id, None
        try:
            super().before_node_run(node, catalog, inputs, is_async)  # only the node's parameters
        finally:
            self.run_id = run_id

    @hook_impl
    def after_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._safely("the end of the run", self._finish, RunStatus.FINISHED)
        if self.enabled and self.run_id is not None:
            super().after_pipeline_run(run_params, pipeline, catalog)

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog):
        self._safely("the end of the run", self._finish, RunStatus.FAILED)
        if self.enabled and self.run_id is not None:
            super().on_pipeline_error(error, run_params, pipeline, catalog)

    # ---- the project's runs ----
    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node) -> None:
        """The number of events in the sample (all splits), from the first table of it a node reads."""
        events = dataset_name in ("primary_events", "model_input_events@table", "model_input_events@file")
        if events and "sample_events" not in self._session_params:
            self._safely(f"loading {dataset_name}", self._sample_size, data)

    def _sample_size(self, data: Any) -> None:
        # a table in memory, or the path of its Parquet file (training streams it)
        n = len(data) if isinstance(data, pd.DataFrame) else pq.ParquetFile(str(data)).metadata.num_rows
        self._session_params["sample_events"] = n
        for run in (self.run_id, *self._runs.values()):
            self._log(run, {"sample_events": n}, [])

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        self._safely(f"saving {dataset_name}", self._saved, dataset_name, data, node)

    def _saved(self, dataset_name: str, data: Any, node) -> None:
        """Logs what a saved dataset holds: a training or generation record, a run's view in the
        report, the report's tables and page, a model or figure. An output saved in pieces by a
        generator node (:class:`~lhc_vae.io.Chunk`) counts once, at its last piece."""
        if isinstance(data, Chunk):
            if not data.last:
                return
            data = data.data
        namespace, kind = _kind(dataset_name)
        now = int(time.time() * 1000)
        if kind == "training" and namespace:
            self._log_training(namespace, data, now)
            if namespace in self._stats:  # a multi-model run may generate before its training summary
                self._name(namespace, now)
        elif kind == "generation_stats" and namespace:
            self._log_generation(namespace, data, now)
            self._name(namespace, now)
        elif dataset_name.startswith("report_sample__") and node is not None and node.namespace:
            # a run as the report sees it (a report-only session generates nothing): its label, its
            # training and generation records; the node is in the run's namespace
            namespace = node.namespace
            label = data["label"]
            self._labels[label] = namespace
            if namespace in self._runs:
                self.client.set_tag(self._runs[namespace], "mlflow.runName", label)
            else:
                self._run(namespace, label)
                self._log_training(namespace, data["training"], now, history=False)
                self._log_generation(namespace, data["stats"], now)
                self.client.set_tag(self._runs[namespace], "trained_in", trained_namespace(namespace))
            return
        elif kind in ("report_metrics", "report_per_variable"):  # saved one after the other by one node
            self._report[kind] = data
            if len(self._report) == 2:
                self._log_report(now)
                self._report = {}
            return
        elif kind == "report_html":
            self._log_file(lambda: self.run_id, dataset_name, "report")
            self._log_file(lambda: self.run_id, f"{namespace + '.' if namespace else ''}report_figures", "report")
            return
        if kind.startswith("component_") and not data.get("training", {}).get("used", True):
            return  # a component the parameters left unused (exp II's leading models when off): untrained
        if namespace and (kind.startswith("component_") or kind in ARTIFACTS):
            self._log_artifact(namespace, dataset_name, ARTIFACTS.get(kind, "model"))

    def _run(self, namespace: str, name: str) -> str:
        """The nested MLflow run of ``namespace``, created under the session run on first use."""
        if namespace not in self._runs:
            tags = {"mlflow.parentRunId": self.run_id, "namespace": namespace}
            run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
            self._runs[namespace] = run.info.run_id
            # the seed comes from the run's own records; the commit is that of the `kedro run` that logged it
            params = {k: v for k, v in self._session_params.items() if k != "seed"}
            self.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        return self._runs[namespace]

    @staticmethod
    def _generation_params(stats: Mapping[str, Any]) -> dict[str, Any]:
        params = {k: stats[k] for k in GENERATION_PARAMS if k in stats and _scalar(stats[k])}
        if "refinement" in stats:
            params["refine.w_max"] = stats["refinement"].get("w_max")
            params["refine.proposal_scale"] = stats["refinement"].get("proposal_scale", 1.0)
        return params

    def _name(self, namespace: str, now: int) -> None:
        """Name a generation run like the report's row (``exp1/alpha_0p3/truth``) once its training
        record is known."""
        training = self._training_record(namespace, now)
        if training is not None:
            label = run_label(training, self._stats[namespace])
            self._labels[label] = namespace
            self.client.set_tag(self._runs[namespace], "mlflow.runName", label)

    def _training_record(self, namespace: str, now: int) -> Mapping[str, Any] | None:
        """The training record of the models a generation run uses: logged by this session's training
        node, or read from its dataset (a BGMM or refined run, ``E_generate``) and logged as parameters.
        None while this session's pipeline has still to write it (never an older record on disk)."""
        if namespace in self._with_training:
            return self._with_training[namespace]
        trained = trained_namespace(namespace)
        name = f"{trained}.training"
        if trained in self._with_training:  # a BGMM or refined run of models trained in this session
            training = self._with_training[trained]
        elif name in self._produced or not self._catalog.exists(name):
            return None
        else:
            training = self._catalog.load(name)
        self._log_training(namespace, training, now, history=False)
        self.client.set_tag(self._runs[namespace], "trained_in", trained)
        return training

    def _log_training(self, namespace: str, training: Mapping[str, Any], now: int, history: bool = True) -> None:
        run = self._run(namespace, namespace)
        metrics = training_metrics(training, now) if history else []
        self._log(run, training_params(training), metrics)
        self._with_training[namespace] = training

    def _log_generation(self, namespace: str, stats: Mapping[str, Any], now: int) -> None:
        self._stats[namespace] = stats
        self._log(self._run(namespace, namespace), self._generation_params(stats), generation_metrics(stats, now))

    def _log(self, run: str, params: Mapping[str, Any], metrics: Iterable[Metric]) -> None:
        """Parameters not yet on the run (MLflow refuses to change one) and metrics, in batches."""
        have = self.client.get_run(run).data.params if params else {}
        fresh = [Param(k, str(v)) for k, v in params.items() if k not in have]
        metrics = list(metrics)
        for i in range(0, len(fresh), 100):
            self.client.log_batch(run, params=fresh[i : i + 100])
        for i in range(0, len(metrics), BATCH):
            self.client.log_batch(run, metrics=metrics[i : i + BATCH])

    def _log_report(self, now: int) -> None:
        per_run = report_metrics(self._report["report_metrics"], self._report["report_per_variable"], now)
        for label, metrics in per_run.items():
            namespace = self._labels.get(label)
            if namespace is not None:
                self._log(self._runs[namespace], {}, metrics)
            elif label.startswith("floor."):  # truth against truth, on the session run
                self._log(self.run_id, {}, [Metric(f"{label}.{m.key}", m.value, m.timestamp, m.step) for m in metrics])

    def _path(self, dataset_name: str) -> Path | None:
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        filepath = getattr(dataset, "_filepath", None) if dataset is not None else None
        return Path(str(filepath)) if filepath is not None else None

    def _log_artifact(self, namespace: str, dataset_name: str, folder: str) -> None:
        if folder == "model" and not self.log_models:
            return
        self._log_file(lambda: self._run(namespace, namespace), dataset_name, folder)

    def _log_file(self, run: Callable[[], str], dataset_name: str, folder: str) -> None:
        """A dataset's file or folder as an artifact of ``run()`` under ``folder`` (nothing if the
        dataset has no file on disk); the run is asked for only when there is something to log."""
        path = self._path(dataset_name)
        if path is None or not path.exists():
            return
        if path.is_dir():
            self.client.log_artifacts(run(), str(path), f"{folder}/{path.name}".strip("/"))
        else:
            self.client.log_artifact(run(), str(path), folder or None)

    def _finish(self, status: int) -> None:
        for run in self._runs.values():
            self.client.set_terminated(run, RunStatus.to_string(status))
