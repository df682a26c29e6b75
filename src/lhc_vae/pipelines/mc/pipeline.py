"""The ``mc`` pipeline."""

from kedro.pipeline import Node, Pipeline

from lhc_vae.pipelines.mc.nodes import generate_events, reread_sample, summarise_sample, validation_plots


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                generate_events,
                inputs=["params:process", "params:seed", "params:mc"],
                outputs=["mc_events", "mc_run"],
                name="generate_events_node",
            ),
            Node(reread_sample, inputs=["mc_events", "params:mc"], outputs="mc_reread", name="reread_sample_node"),
            Node(summarise_sample, inputs=["mc_reread", "mc_run"], outputs="mc_stats", name="summarise_sample_node"),
            Node(
                validation_plots,
                inputs=["mc_reread", "params:process"],
                outputs="mc_validation_plots",
                name="mc_validation_plots_node",
            ),
        ]
    )
