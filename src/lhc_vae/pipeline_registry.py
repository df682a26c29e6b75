"""Project pipelines, registered explicitly (``find_pipelines`` imports only the one asked for)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from lhc_vae.models.experiments import DEFAULT_VALUES, variator_of
from lhc_vae.pipelines import benchmark, compare, learning_curve, mc, multi, preprocessing, report, vae
from lhc_vae.tags import run_tag

#: Which pipeline factory builds each experiment.
FACTORIES = {"baseline": vae, "exp3": vae, "exp1": multi, "exp2": multi}
#: The generator beyond the thesis (issue #12 item 5): experiment III's models with a BGMM latent prior.
BEYOND_THESIS = "exp3"


def default_runs() -> tuple[str, ...]:
    """Namespaces of the default run of each experiment (:data:`DEFAULT_VALUES`), then the runs
    beyond the thesis: the BGMM prior and the classifier-refined BGMM run."""
    runs = [f"{e}_sweep.{run_tag(variator_of(e), v)}" for e, v in DEFAULT_VALUES.items()]
    tag = run_tag(variator_of(BEYOND_THESIS), DEFAULT_VALUES[BEYOND_THESIS])
    return (*runs, f"{BEYOND_THESIS}_bgmm.{tag}", f"{BEYOND_THESIS}_refined.{tag}")


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
    pipelines["report"] = report.create_pipeline(default_runs())
    pipelines["benchmark"] = benchmark.create_pipeline()
    pipelines["compare"] = compare.create_pipeline()
    pipelines.update(learning_curve.create_pipelines())
    # kedro run: preprocessing -> each experiment at its default alpha/beta -> the BGMM and refined runs -> report
    best = [FACTORIES[e].fixed_value_run(e, v) for e, v in DEFAULT_VALUES.items()]
    beyond = vae.bgmm_run(BEYOND_THESIS, DEFAULT_VALUES[BEYOND_THESIS])
    beyond += vae.refined_run(BEYOND_THESIS, DEFAULT_VALUES[BEYOND_THESIS])
    pipelines["__default__"] = pipelines["preprocessing"] + sum(best, Pipeline([])) + beyond + pipelines["report"]
    return pipelines
