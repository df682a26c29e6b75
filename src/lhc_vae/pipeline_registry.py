"""Project pipelines, registered explicitly (``find_pipelines`` imports only the one asked for)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from lhc_vae.pipelines import benchmark, compare, mc, multi, preprocessing, report, vae
from lhc_vae.tags import run_tag
from lhc_vae.thesis import THESIS_TABLES

#: Which pipeline factory builds each experiment.
FACTORIES = {"baseline": vae, "exp3": vae, "exp1": multi, "exp2": multi}


def default_runs() -> tuple[str, ...]:
    """Namespaces of the default run of each experiment: its Table 8.1 alpha or beta."""
    return tuple(
        f"{experiment}_sweep.{run_tag('alpha' if alpha is not None else 'beta', alpha if alpha is not None else beta)}"
        for experiment, alpha, beta, *_ in THESIS_TABLES["ttbar"]
    )


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "mc": mc.create_pipeline(),
        "preprocessing": preprocessing.create_pipeline(),
    }
    for experiment, factory in FACTORIES.items():
        pipelines.update(factory.create_pipelines(experiment))
        single = next(iter({n.namespace for n in pipelines[experiment].nodes}))
        # the report of one run at the global alpha/beta, beside the run: kedro run --pipeline=exp3_report
        pipelines[f"{experiment}_report"] = report.create_pipeline((single,), prefix=f"{single}.")
    runs = default_runs()
    pipelines["report"] = report.create_pipeline(runs)
    pipelines["benchmark"] = benchmark.create_pipeline()
    pipelines["compare"] = compare.create_pipeline()
    # kedro run: preprocessing -> each experiment at the thesis's best alpha/beta (Table 8.1) -> report
    best = [
        FACTORIES[experiment].fixed_value_run(experiment, alpha if alpha is not None else beta)
        for experiment, alpha, beta, *_ in THESIS_TABLES["ttbar"]
    ]
    pipelines["__default__"] = pipelines["preprocessing"] + sum(best, Pipeline([])) + pipelines["report"]
    return pipelines
