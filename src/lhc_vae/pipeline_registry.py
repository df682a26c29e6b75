"""Project pipelines, registered explicitly (``find_pipelines`` imports only the one asked for)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from lhc_vae.evaluation.report import THESIS_TABLES
from lhc_vae.pipelines import benchmark, mc, multi, preprocessing, report, vae


#: Which pipeline factory builds each experiment.
FACTORIES = {"baseline": vae, "exp3": vae, "exp1": multi, "exp2": multi}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "mc": mc.create_pipeline(),
        "preprocessing": preprocessing.create_pipeline(),
    }
    for experiment, factory in FACTORIES.items():
        pipelines.update(factory.create_pipelines(experiment))
    pipelines["report"] = report.create_pipeline()
    pipelines["benchmark"] = benchmark.create_pipeline()
    # kedro run: preprocessing -> each experiment at the thesis's best alpha/beta (Table 8.1) -> report
    best = [
        FACTORIES[experiment].fixed_value_run(experiment, alpha if alpha is not None else beta)
        for experiment, alpha, beta, *_ in THESIS_TABLES["ttbar"]
    ]
    stats = tuple(sorted(o for p in best for o in p.outputs() if o.endswith(".generation_stats")))
    pipelines["__default__"] = pipelines["preprocessing"] + sum(best, Pipeline([])) + report.create_pipeline(after=stats)
    return pipelines
