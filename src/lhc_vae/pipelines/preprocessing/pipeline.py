"""The ``preprocessing`` pipeline."""

from kedro.pipeline import Node, Pipeline

from lhc_vae.pipelines.preprocessing.nodes import (
    build_primary_tables,
    fit_feature_scaler,
    make_model_input,
    parse_raw_events,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                parse_raw_events,
                inputs=["raw_events", "params:preprocessing.parse"],
                outputs=["parsed_events", "parsed_objects", "rejects", "parse_stats"],
                name="parse_raw_events_node",
            ),
            Node(
                build_primary_tables,
                inputs=[
                    "parsed_events",
                    "parsed_objects",
                    "rejects",
                    "parse_stats",
                    "params:seed",
                    "params:preprocessing",
                ],
                outputs=["primary_events", "primary_objects", "preprocessing_report"],
                name="build_primary_tables_node",
            ),
            Node(
                fit_feature_scaler,
                inputs=["primary_events", "primary_objects", "params:preprocessing"],
                outputs="feature_scaler",
                name="fit_feature_scaler_node",
            ),
            Node(
                make_model_input,
                inputs=["primary_events", "primary_objects", "feature_scaler"],
                outputs=["model_input_events@table", "model_input_objects@table"],
                name="make_model_input_node",
            ),
        ]
    )
