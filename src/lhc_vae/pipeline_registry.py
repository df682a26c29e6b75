"""Project pipelines, registered explicitly (``find_pipelines`` imports only the one asked for)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from lhc_vae.pipelines import benchmark, mc, multi, preprocessing, report, vae


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "mc": mc.create_pipeline(),
        "preprocessing": preprocessing.create_pipeline(),
    }
    for experiment in ("baseline", "exp3"):
        pipelines.update(vae.create_pipelines(experiment))
    for experiment in ("exp1", "exp2"):
        pipelines.update(multi.create_pipelines(experiment))
    pipelines["report"] = report.create_pipeline()
    pipelines["benchmark"] = benchmark.create_pipeline()
    # kedro run: preprocessing -> the four experiments at the thesis's best alpha/beta -> report
    best = ("baseline.alpha", "exp1.alpha", "exp2.beta", "exp3.beta")
    pipelines["__default__"] = (
        pipelines["preprocessing"]
        + pipelines["baseline"]
        + pipelines["exp1"]
        + pipelines["exp2"]
        + pipelines["exp3"]
        + report.create_pipeline(after=tuple(f"{b}.generation_stats" for b in best))
    )
    return pipelines
