"""The ``report`` pipelines: generated runs, side by side, against held-out truth (issue #11).

Every run enters through its catalog datasets (generated events and objects, generation
statistics, training record), so the DAG shows report <- generation <- training for each run:

* ``create_pipeline(runs)``: the report of the runs in the namespaces ``runs`` (the default
  pipeline's runs: the four experiments at their default values and the BGMM run), written to
  ``data/08_reporting/<source>/<process>/``;
* with ``namespace="<exp>.<alpha|beta>"``, the report of one experiment's run at the global alpha or
  beta (``kedro run --pipeline=exp3_report --params beta=1.0``), written beside the run.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from lhc_vae.pipelines.report.nodes import (
    ALL,
    compute_metrics,
    metrics_records,
    render_report,
    report_figures,
    run_sample,
    subset_of,
    truth_samples,
)
from lhc_vae.tags import experiment_of, sample_dataset, trained_namespace

RUN_INPUTS = ("generated_events", "generated_objects", "generation_stats", "training")


def _run_sample(namespace: str) -> Node:
    """The report's view of the run in ``namespace`` (:func:`lhc_vae.tags.sample_dataset`), a node of
    that run's namespace; a BGMM or refined run reads the training record of the models it used."""
    trained = trained_namespace(namespace)
    inputs = [f"{trained if name == 'training' else namespace}.{name}" for name in RUN_INPUTS]
    return Node(
        run_sample,
        inputs=[*inputs, "params:report"],
        outputs=sample_dataset(namespace),
        name="report_sample",
        namespace=namespace,
    )


def create_pipeline(
    runs: tuple[str, ...], namespace: str | None = None, benchmark: str | None = None, **kwargs
) -> Pipeline:
    """Report of the generation runs in the namespaces ``runs`` (e.g. ``exp3_sweep.beta_1p5``); with
    a ``namespace`` (``exp3.beta``, ``beyond_thesis``) its nodes and datasets are in it
    (``exp3.beta.report_metrics``), otherwise global (``report_metrics``); its speed table is the
    optional ``benchmark`` dataset (default ``<namespace>.benchmark``)."""
    p = f"{namespace}." if namespace else ""
    benchmark = benchmark or f"{p}benchmark"
    samples = [sample_dataset(ns) for ns in runs]
    subsets = tuple(dict.fromkeys([ALL, *(subset_of(experiment_of(ns)) for ns in runs)]))
    truth = update_wrapper(partial(truth_samples, subsets=subsets), truth_samples)
    nodes = [
        Node(
            truth,
            inputs=["primary_events", "primary_objects", "params:report"],
            outputs=[f"{p}report_truth", f"{p}report_binning"],
            name="truth_samples",
            namespace=namespace,
        ),
        Node(
            compute_metrics,
            inputs=[f"{p}report_truth", "params:seed", "params:report", *samples],
            outputs=[f"{p}report_metrics", f"{p}report_per_variable", f"{p}report_pairs"],
            name="compute_metrics",
            namespace=namespace,
        ),
        Node(
            metrics_records,
            inputs=f"{p}report_metrics",
            outputs=f"{p}report_metrics_json",
            name="metrics_records",
            namespace=namespace,
        ),
        Node(
            report_figures,
            inputs=[f"{p}report_truth", "params:report", "params:process", *samples],
            outputs=[f"{p}report_figures", f"{p}report_images"],
            name="report_figures",
            namespace=namespace,
        ),
        Node(
            render_report,
            inputs=[
                f"{p}report_metrics",
                f"{p}report_per_variable",
                f"{p}report_pairs",
                f"{p}report_images",
                benchmark,
                "params:process",
                "params:source",
                "params:report.truth",
                "params:report.n_bins",
                "params:thesis_tables",
            ],
            outputs=f"{p}report_html",
            name="render_report",
            namespace=namespace,
        ),
    ]
    return Pipeline([_run_sample(ns) for ns in runs] + nodes)
