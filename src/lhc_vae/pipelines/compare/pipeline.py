"""``kedro run --pipeline=compare --params compare.truth=PATH,compare.generated=PATH``: the
report's metrics and page for any Dark Machines file against a truth file (no training)."""

from kedro.pipeline import Node, Pipeline

from lhc_vae.pipelines.compare.nodes import generated_run, truth_halves
from lhc_vae.pipelines.report.nodes import compute_metrics, metrics_records, render_report, report_figures


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                truth_halves,
                inputs=["compare_truth_file", "params:seed", "params:report"],
                outputs=["compare_truth", "compare_binning"],
                name="compare_truth_halves",
            ),
            Node(
                generated_run,
                inputs=["compare_generated_file", "params:report"],
                outputs="compare_run",
                name="compare_generated_run",
            ),
            Node(
                compute_metrics,
                inputs=["compare_truth", "params:seed", "params:report", "compare_run"],
                outputs=["compare_metrics", "compare_per_variable", "compare_pairs"],
                name="compare_metrics_node",
            ),
            Node(
                metrics_records,
                inputs="compare_metrics",
                outputs="compare_metrics_json",
                name="compare_metrics_records",
            ),
            Node(
                report_figures,
                inputs=["compare_truth", "params:report", "params:compare.title", "compare_run"],
                outputs=["compare_figures", "compare_images"],
                name="compare_figures_node",
            ),
            Node(
                render_report,
                inputs=[
                    "compare_metrics",
                    "compare_per_variable",
                    "compare_pairs",
                    "compare_images",
                    "params:compare.benchmark",
                    "params:compare.title",
                    "params:compare.source",
                    "params:compare.truth_description",
                    "params:report.n_bins",
                    "params:thesis_tables",
                ],
                outputs="compare_html",
                name="compare_render_report",
            ),
        ]
    )
