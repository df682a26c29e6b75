"""The ``benchmark`` pipeline: MC chain vs every trained generator, in one run."""

from kedro.pipeline import Node, Pipeline

from lhc_vae.pipelines.benchmark.nodes import (
    benchmark_mc,
    benchmark_models,
    benchmark_preprocessing,
    summarise_benchmark,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                benchmark_mc,
                inputs=["params:process", "params:seed", "params:mc", "params:benchmark", "mc_stats"],
                outputs="benchmark_mc",
                name="benchmark_mc_node",
            ),
            Node(
                benchmark_preprocessing,
                inputs="raw_events",
                outputs="benchmark_preprocessing",
                name="benchmark_preprocessing_node",
            ),
            Node(
                benchmark_models,
                inputs=[
                    "trained_models",
                    "feature_scaler",
                    "model_input_events",
                    "model_input_objects",
                    "params:process",
                    "params:benchmark",
                    "params:exp1",
                ],
                outputs="benchmark_models",
                name="benchmark_models_node",
            ),
            Node(
                summarise_benchmark,
                inputs=["benchmark_mc", "benchmark_preprocessing", "benchmark_models", "params:process"],
                outputs=["benchmark", "benchmark_plot"],
                name="summarise_benchmark_node",
            ),
        ]
    )
