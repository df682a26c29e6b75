"""The ``report`` pipeline: all runs of a process, side by side, against held-out truth."""

from kedro.pipeline import Node, Pipeline

from lhc_vae.pipelines.report.nodes import collect_samples, compute_metrics, metrics_records, render_report, report_figures


def create_pipeline(after: tuple[str, ...] = (), **kwargs) -> Pipeline:
    """``after``: datasets of runs in the same ``kedro run`` that the report must wait for."""
    return Pipeline(
        [
            Node(
                collect_samples,
                inputs=["generated_runs", "primary_events", "primary_objects", "params:seed", "params:report", *after],
                outputs="report_samples",
                name="collect_samples_node",
            ),
            Node(compute_metrics, inputs=["report_samples", "params:seed"], outputs=["report_metrics", "report_per_variable"], name="compute_metrics_node"),
            Node(metrics_records, inputs="report_metrics", outputs="report_metrics_json", name="metrics_records_node"),
            Node(report_figures, inputs=["report_samples", "params:report"], outputs=["report_figures", "report_images"], name="report_figures_node"),
            Node(
                render_report,
                inputs=["report_metrics", "report_per_variable", "report_images", "generated_runs", "benchmark", "params:process", "params:source"],
                outputs="report_html",
                name="render_report_node",
            ),
        ]
    )
