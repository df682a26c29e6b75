"""Pipeline factory of the multi-model experiments I and II (thesis §7.4, §7.5).

Same conventions as :mod:`lhc_vae.pipelines.vae`: ``E`` (train + generate, namespace ``E.v``),
``E_generate`` (generation from saved components), ``E_sweep`` (one namespace per grid value).
Each component (event/MET model, one model per particle type) is its own node and dataset.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from lhc_vae.models.experiments import variator_of
from lhc_vae.models.multi import components
from lhc_vae.pipelines.multi.nodes import (
    fit_mask_generator,
    generate_events,
    mask_proportion_plots,
    summarise_training,
    train_component,
)
from lhc_vae.pipelines.vae.pipeline import fixed_value_inputs, namespaced, training_inputs
from lhc_vae.tags import run_tag


def component_names(experiment: str) -> list[str]:
    """The event (exp I) or MET (exp II) model, one model per object type, and exp II's models of
    the leading jet and b-jet (trained with ``exp2.leading_models``; :mod:`lhc_vae.models.multi`)."""
    return [c.name for c in components(experiment, 1, leading_models=True)]


def _train(experiment: str, alpha_input: str, beta_input: str) -> Pipeline:
    nodes = []
    for name in component_names(experiment):
        func = update_wrapper(partial(train_component, component=name), train_component)
        nodes.append(
            Node(
                func,
                inputs=training_inputs(alpha_input, beta_input),
                outputs=f"component_{name}",
                name=f"train_{name}",
            )
        )
    nodes.append(
        Node(
            summarise_training,
            inputs=[f"component_{n}" for n in component_names(experiment)],
            outputs=["training", "loss_plot"],
            name="summarise_training",
        )
    )
    if experiment == "exp2":
        nodes.append(
            Node(
                fit_mask_generator,
                inputs=["model_input_events@table", "params:vae"],
                outputs="mask_generator",
                name="fit_mask_generator",
            )
        )
    return Pipeline(nodes)


def _generate(experiment: str, alpha_input: str) -> Pipeline:
    mask_input = "mask_generator" if experiment == "exp2" else "params:no_mask_generator"
    return Pipeline(
        [
            Node(
                generate_events,
                inputs=[
                    "model_input_events@table",
                    "model_input_objects@table",
                    "feature_scaler",
                    mask_input,
                    "params:n_generate",
                    alpha_input,
                    "params:seed",
                    "params:process",
                    "params:latent_prior",
                    "params:vae",
                    "params:generation",
                    *(f"component_{n}" for n in component_names(experiment)),
                ],
                outputs=["generated_events", "generated_objects", "generated_dm", "generation_stats"],
                name="generate_events",
            ),
            Node(
                mask_proportion_plots,
                inputs=["generated_events", "model_input_events@table", "params:vae"],
                outputs="mask_plots",
                name="mask_proportion_plots",
            ),
        ]
    )


def _namespaced(p: Pipeline, namespace: str, experiment: str) -> Pipeline:
    return namespaced(p, namespace, experiment, extra_globals=("no_mask_generator",))


def create_pipelines(experiment: str, sweep: tuple[float, ...]) -> dict[str, Pipeline]:
    """``{E: ..., E_generate: ..., E_sweep: ...}`` for one experiment; ``sweep``: its grid (registry)."""
    variator = variator_of(experiment)
    namespace = f"{experiment}.{variator}"
    pipes = {
        experiment: _namespaced(
            _train(experiment, "params:alpha", "params:beta") + _generate(experiment, "params:alpha"),
            namespace,
            experiment,
        ),
        f"{experiment}_generate": _namespaced(_generate(experiment, "params:alpha"), namespace, experiment),
    }
    pipes[f"{experiment}_sweep"] = sum((fixed_value_run(experiment, v) for v in sweep), Pipeline([]))
    return pipes


def fixed_value_run(experiment: str, value: float) -> Pipeline:
    """Train and generate at a fixed alpha or beta (namespace ``E_sweep.<tag>``): one point of a sweep."""
    variator = variator_of(experiment)
    const, alpha_input, beta_input = fixed_value_inputs(variator, value)
    body = const + _train(experiment, alpha_input, beta_input) + _generate(experiment, alpha_input)
    return _namespaced(body, f"{experiment}_sweep.{run_tag(variator, value)}", experiment)
