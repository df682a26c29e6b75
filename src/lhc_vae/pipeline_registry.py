"""Project pipelines, built from the experiment registry (``conf/base/parameters_experiments.yml``,
:mod:`lhc_vae.registry`)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from lhc_vae.pipelines import benchmark, compare, learning_curve, mc, multi, preprocessing, report, vae
from lhc_vae.registry import load_registry

#: The pipeline factory of each registry ``pipeline`` kind.
FACTORIES = {"single": vae, "multi": multi}


def register_pipelines() -> dict[str, Pipeline]:
    registry = load_registry()
    pipelines = {
        "mc": mc.create_pipeline(),
        "preprocessing": preprocessing.create_pipeline(),
    }
    for name, entry in registry.experiments.items():
        pipelines.update(FACTORIES[entry.pipeline].create_pipelines(name, entry.sweep))
        single = next(iter({n.namespace for n in pipelines[name].nodes}))
        # the report of one run at the global alpha/beta, beside the run: kedro run --pipeline=exp3_report
        pipelines[f"{name}_report"] = report.create_pipeline((single,), namespace=single)
        pipelines[f"{name}_benchmark"] = benchmark.create_pipeline((single,), namespace=single)
    pipelines["report"] = report.create_pipeline(registry.default_runs())
    bgmm, _refined = registry.beyond_namespaces()  # the refined run's refiner lives only in its own run
    pipelines["scaling"] = benchmark.create_scaling_pipeline()
    pipelines["benchmark"] = (
        benchmark.create_pipeline((*(e.default_namespace for e in registry.experiments.values()), bgmm))
        + pipelines["scaling"]
    )
    pipelines["compare"] = compare.create_pipeline()
    pipelines.update(learning_curve.create_pipelines({n: e.default for n, e in registry.experiments.items()}))
    # kedro run: preprocessing -> each experiment at its default alpha/beta -> the BGMM and refined
    # runs of the beyond-thesis experiment's default models -> report
    best = [FACTORIES[e.pipeline].fixed_value_run(n, e.default) for n, e in registry.experiments.items()]
    beyond_entry = registry.experiments[registry.beyond_thesis]
    beyond = vae.bgmm_run(beyond_entry.name, beyond_entry.default) + vae.refined_run(
        beyond_entry.name, beyond_entry.default
    )
    # the runs beyond the thesis from the default run's trained models, and their report beside that run:
    # kedro run --pipeline=beyond_thesis (after the experiment's default run, e.g. --pipeline=exp3 --params beta=0.5)
    beyond_runs = (beyond_entry.default_namespace, *registry.beyond_namespaces())
    beyond_report = report.create_pipeline(beyond_runs, namespace="beyond_thesis", benchmark="benchmark")
    pipelines["beyond_thesis"] = beyond + beyond_report
    pipelines["__default__"] = pipelines["preprocessing"] + sum(best, Pipeline([])) + beyond + pipelines["report"]
    return pipelines
