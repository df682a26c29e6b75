"""The ``learning_curve`` pipeline: every experiment at its default alpha or beta, trained on
nested subsets of the training split (issue #12 item 4).

One node per experiment (namespace ``learning_curve.<experiment>``, its table saved on its own),
then one table and one figure of all of them (``learning_curve``); one experiment with its own
figure: ``kedro run --pipeline=learning_curve_exp3``.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline, pipeline

from lhc_vae.pipelines.learning_curve.nodes import learning_curve, plot_learning_curve, plot_learning_curves
from lhc_vae.pipelines.vae.pipeline import constant_node

INPUTS = [
    "model_input_events@table",
    "model_input_objects@table",
    "feature_scaler",
    "primary_events",
    "primary_objects",
]


def _experiment_curve(experiment: str, value: float) -> Pipeline:
    nodes = [
        constant_node(value, "value"),
        Node(
            learning_curve,
            inputs=[
                *INPUTS,
                "value",
                "params:seed",
                "params:process",
                "params:learning_curve",
                "params:report",
                f"params:{experiment}",
            ],
            outputs="curve",
            name="learning_curve",
        ),
    ]
    return pipeline(
        Pipeline(nodes),
        namespace=f"learning_curve.{experiment}",
        inputs=set(INPUTS),
        parameters={
            p: p
            for p in ("params:seed", "params:process", "params:learning_curve", "params:report", f"params:{experiment}")
        },
    )


def create_pipelines(defaults: dict[str, float]) -> dict[str, Pipeline]:
    """``learning_curve`` (every experiment at its default value, ``defaults`` of the registry;
    one table and figure) and ``learning_curve_<exp>``."""
    curves = {e: _experiment_curve(e, v) for e, v in defaults.items()}
    pipes = {
        f"learning_curve_{e}": p
        + Pipeline(
            [
                Node(
                    plot_learning_curve,
                    inputs=f"learning_curve.{e}.curve",
                    outputs=f"learning_curve.{e}.plot",
                    name="plot",
                    namespace=f"learning_curve.{e}",
                )
            ]
        )
        for e, p in curves.items()
    }
    plot = Node(
        plot_learning_curves,
        inputs=[f"learning_curve.{e}.curve" for e in curves],
        outputs=["learning_curve_table", "learning_curve_plot"],
        name="plot_learning_curves",
        namespace="learning_curve",
    )
    pipes["learning_curve"] = sum(curves.values(), Pipeline([])) + Pipeline([plot])
    return pipes
