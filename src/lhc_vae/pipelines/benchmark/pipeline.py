"""The ``benchmark`` pipelines: the MC chain against trained generators, in one run.

* ``benchmark``: the default pipeline's runs (the experiment registry's default values, and the
  BGMM run), each read from its catalog datasets;
* ``<experiment>_benchmark``: that experiment's run at the global alpha or beta, beside
  ``<experiment>_report``: ``kedro run --pipeline=exp2_benchmark --params beta=1.5``;
* ``scaling`` (also part of ``benchmark``): the MC chain and the parsing of a folder of raw files
  on a LocalCluster of 1, 2, ... workers: events/s, scaling efficiency and peak RSS per worker.

The classifier-refined run is not timed here: its refiner lives only inside its own run, whose
``generation_stats.json`` holds its time per event.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from lhc_vae.models.experiments import EXPERIMENTS
from lhc_vae.pipelines.benchmark.nodes import (
    benchmark_mc,
    benchmark_models,
    benchmark_preprocessing,
    benchmark_scaling,
    multi_model,
    single_model,
    summarise_benchmark,
)
from lhc_vae.pipelines.multi.pipeline import component_names
from lhc_vae.tags import experiment_of, trained_namespace


def _model_node(namespace: str) -> Node:
    """The trained models of the run in ``namespace`` (its catalog datasets) as one timing spec."""
    experiment, trained = experiment_of(namespace), trained_namespace(namespace)
    if experiment in EXPERIMENTS:
        func = single_model
        inputs = [f"{trained}.encoder", f"{trained}.decoder", f"{namespace}.prior", f"{trained}.training"]
    else:
        func = multi_model
        mask = f"{trained}.mask_generator" if experiment == "exp2" else "params:no_mask_generator"
        inputs = [mask, f"{trained}.training", *(f"{trained}.component_{c}" for c in component_names(experiment))]
    # a node of the run's namespace; its output, read by the benchmark of every run, without dots
    output = f"benchmark_model__{namespace.replace('.', '__')}"
    return Node(func, inputs=inputs, outputs=output, name="benchmark_model", namespace=namespace)


def create_pipeline(runs: tuple[str, ...], namespace: str | None = None) -> Pipeline:
    """Time the MC chain, the preprocessing and the generation of the runs in the namespaces
    ``runs``; the results are ``benchmark`` and ``benchmark_plot``. With a ``namespace`` (one run's
    benchmark, ``exp3.beta``) every node is in it and the results are ``exp3.beta.benchmark``, beside
    that run's report; otherwise each run's model node is in its run's namespace."""
    prefix = f"{namespace}." if namespace else ""
    models = [_model_node(ns) for ns in runs]
    return Pipeline(
        [
            *models,
            Node(
                benchmark_mc,
                inputs=["params:process", "params:seed", "params:mc", "params:benchmark", "mc_stats"],
                outputs="benchmark_mc",
                name="benchmark_mc_node",
                namespace=namespace,
            ),
            Node(
                benchmark_preprocessing,
                inputs="raw_events",
                outputs="benchmark_preprocessing",
                name="benchmark_preprocessing_node",
                namespace=namespace,
            ),
            Node(
                benchmark_models,
                inputs=[
                    "feature_scaler",
                    "model_input_events@table",
                    "model_input_objects@table",
                    "params:process",
                    "params:benchmark",
                    "params:exp1",
                    *(n.outputs[0] for n in models),
                ],
                outputs="benchmark_models",
                name="benchmark_models_node",
                namespace=namespace,
            ),
            Node(
                summarise_benchmark,
                inputs=["benchmark_mc", "benchmark_preprocessing", "benchmark_models", "params:process"],
                outputs=[f"{prefix}benchmark", f"{prefix}benchmark_plot"],
                name="summarise_benchmark_node",
                namespace=namespace,
            ),
        ]
    )


def create_scaling_pipeline() -> Pipeline:
    """The Dask steps on 1, 2, ... workers (issue #14 item 6): ``kedro run --pipeline=scaling``, and a
    part of ``benchmark``; the result is ``scaling_benchmark``."""
    return Pipeline(
        [
            Node(
                benchmark_scaling,
                inputs=["raw_events", "params:process", "params:seed", "params:mc", "params:benchmark"],
                outputs="scaling_benchmark",
                name="benchmark_scaling_node",
            )
        ]
    )
