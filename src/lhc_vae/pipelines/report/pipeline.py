"""The ``report`` pipelines: generated runs, side by side, against held-out truth (issue #11).

Every run enters through its catalog datasets (generated events and objects, generation
statistics, training record), so the DAG shows report <- generation <- training for each run:

* ``create_pipeline(runs)``: the report of the runs in the namespaces ``runs`` (the default
  pipeline's runs: the four experiments at their default values and the BGMM run), written to
  ``data/08_reporting/<source>/<process>/``;
* with ``prefix="<exp>.<alpha|beta>."``, the report of one experiment's run at the global alpha or
  beta (``kedro run --pipeline=exp3_report --params beta=1.0``), written beside the run.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, pipeline

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
from lhc_vae.tags import experiment_of, trained_namespace

RUN_INPUTS = ("generated_events", "generated_objects", "generation_stats", "training")


def _run_sample(namespace: str) -> Pipeline:
    node = Node(run_sample, inputs=[*RUN_INPUTS, "params:report"], outputs="report_sample", name="report_sample")
    # a BGMM run generates with the models (and training record) of its sweep run
    trained = trained_namespace(namespace)
    inputs = {f"{namespace}.training": f"{trained}.training"} if trained != namespace else {}
    p = pipeline(Pipeline([node]), namespace=namespace, parameters={"params:report": "params:report"})
    return pipeline(p, inputs=inputs) if inputs else p


def create_pipeline(runs: tuple[str, ...], prefix: str = "", benchmark: str | None = None, **kwargs) -> Pipeline:
    """Report of the generation runs in the namespaces ``runs`` (e.g. ``exp3_sweep.beta_1p5``);
    the report's own datasets are named ``<prefix>report_*``; its speed table is the optional
    ``benchmark`` dataset (default ``<prefix>benchmark``)."""
    benchmark = benchmark or f"{prefix}benchmark"
    samples = [f"{ns}.report_sample" for ns in runs]
    subsets = tuple(dict.fromkeys([ALL, *(subset_of(experiment_of(ns)) for ns in runs)]))
    truth = update_wrapper(partial(truth_samples, subsets=subsets), truth_samples)
    p = prefix
    nodes = [
        Node(
            truth,
            inputs=["primary_events", "primary_objects", "params:report"],
            outputs=[f"{p}report_truth", f"{p}report_binning"],
            name=f"{p}truth_samples",
        ),
        Node(
            compute_metrics,
            inputs=[f"{p}report_truth", "params:seed", "params:report", *samples],
            outputs=[f"{p}report_metrics", f"{p}report_per_variable", f"{p}report_pairs"],
            name=f"{p}compute_metrics",
        ),
        Node(
            metrics_records, inputs=f"{p}report_metrics", outputs=f"{p}report_metrics_json", name=f"{p}metrics_records"
        ),
        Node(
            report_figures,
            inputs=[f"{p}report_truth", "params:report", "params:process", *samples],
            outputs=[f"{p}report_figures", f"{p}report_images"],
            name=f"{p}report_figures",
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
            name=f"{p}render_report",
        ),
    ]
    return sum((_run_sample(ns) for ns in runs), Pipeline([])) + Pipeline(nodes)
