"""Pipeline factory of the single-model VAE experiments: train, generate, sweep.

For an experiment ``E`` with variator ``v`` (alpha or beta):

* ``E``          : train -> loss plot -> latent prior -> generation, namespace ``E.v``;
* ``E_generate`` : latent prior -> generation from the saved models (no retraining);
* ``E_sweep``    : the training + generation pipeline once per grid value, namespaces
  ``E_sweep.v_<value>``, which kedro-viz shows as one group.

``alpha``, ``beta``, ``seed``, ``process``, ``latent_prior``, ``bgmm_components`` and ``n_generate``
stay global parameters, so ``--params beta=1.5`` reaches them; the experiment's own settings are
``params:E`` (override as ``--params E.epochs=2``).
"""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline, pipeline

from lhc_vae.models.experiments import get_experiment
from lhc_vae.pipelines.vae.nodes import fit_latent_prior, generate_events, generate_refined, plot_history, train_vae
from lhc_vae.tags import derived_namespace, run_tag

GLOBAL_PARAMS = ("alpha", "beta", "seed", "process", "latent_prior", "bgmm_components", "n_generate", "generation")
SHARED_INPUTS = {
    "model_input_events@table",
    "model_input_objects@table",
    "model_input_events@file",
    "model_input_objects@file",
    "feature_scaler",
    "primary_events",
    "primary_objects",
}
#: The model input as Parquet paths: training and the prior fit stream it (issue #14 item 4).
MODEL_INPUT_FILES = ("model_input_events@file", "model_input_objects@file")


def constant(value: Any) -> Any:
    """A run's fixed alpha, beta or latent prior, as a node output."""
    return value


def constant_node(value: Any, output: str) -> Node:
    """A node with no inputs whose output is ``value`` (shown in kedro-viz under ``output``)."""
    return Node(update_wrapper(partial(constant, value), constant), inputs=None, outputs=output, name=output)


def training_inputs(alpha_input: str, beta_input: str) -> list[str]:
    """What every training node takes: the model input as Parquet paths (streamed), the run's alpha
    and beta, seed, process and the experiment's parameters (``params:vae``, renamed per experiment
    by :func:`namespaced`)."""
    return [*MODEL_INPUT_FILES, alpha_input, beta_input, "params:seed", "params:process", "params:vae"]


def _train(alpha_input: str, beta_input: str) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_vae,
                inputs=training_inputs(alpha_input, beta_input),
                outputs=["encoder", "decoder", "training"],
                name="train_vae",
            ),
            Node(plot_history, inputs="training", outputs="loss_plot", name="plot_history"),
        ]
    )


def _generate(alpha_input: str, prior_input: str = "params:latent_prior") -> Pipeline:
    return Pipeline(
        [
            Node(
                fit_latent_prior,
                inputs=[
                    "encoder",
                    "decoder",
                    *MODEL_INPUT_FILES,
                    prior_input,
                    "params:bgmm_components",
                    "params:seed",
                    "params:vae",
                    alpha_input,
                ],
                outputs="prior",
                name="fit_latent_prior",
            ),
            Node(
                generate_events,
                inputs=[
                    "encoder",
                    "decoder",
                    "prior",
                    "feature_scaler",
                    "params:n_generate",
                    alpha_input,
                    "params:seed",
                    "params:process",
                    "params:vae",
                    "params:generation",
                ],
                outputs=["generated_events", "generated_objects", "generated_dm", "generation_stats"],
                name="generate_events",
            ),
        ]
    )


def namespaced(p: Pipeline, namespace: str, experiment: str, extra_globals: tuple[str, ...] = ()) -> Pipeline:
    """Namespace a run's pipeline: global parameters and the shared model inputs stay global,
    ``params:vae`` becomes ``params:<experiment>``."""
    used = p.inputs()
    params = {f"params:{g}": f"params:{g}" for g in (*GLOBAL_PARAMS, *extra_globals) if f"params:{g}" in used}
    params["params:vae"] = f"params:{experiment}"
    return pipeline(p, namespace=namespace, inputs=SHARED_INPUTS & used, parameters=params)


def create_pipelines(experiment: str, sweep: tuple[float, ...]) -> dict[str, Pipeline]:
    """``{E: ..., E_generate: ..., E_sweep: ...}`` for one experiment; ``sweep``: its grid (registry)."""
    variator = get_experiment(experiment).variator
    namespace = f"{experiment}.{variator}"
    train = _train("params:alpha", "params:beta")
    gen = _generate("params:alpha")
    pipes = {
        experiment: namespaced(train + gen, namespace, experiment),
        f"{experiment}_generate": namespaced(gen, namespace, experiment),
    }
    pipes[f"{experiment}_sweep"] = sum((fixed_value_run(experiment, v) for v in sweep), Pipeline([]))
    return pipes


def fixed_value_run(experiment: str, value: float) -> Pipeline:
    """Train and generate at a fixed alpha or beta (namespace ``E_sweep.<tag>``, the same output
    paths as ``kedro run --pipeline=E --params alpha|beta=value``): one point of a sweep."""
    variator = get_experiment(experiment).variator
    const, alpha_input, beta_input = fixed_value_inputs(variator, value)
    body = const + _train(alpha_input, beta_input) + _generate(alpha_input)
    return namespaced(body, f"{experiment}_sweep.{run_tag(variator, value)}", experiment)


def fixed_value_inputs(variator: str, value: float) -> tuple[Pipeline, str, str]:
    """The node that holds a fixed alpha or beta, and the (alpha, beta) inputs a run then takes."""
    const = Pipeline([constant_node(value, "sweep_value")])
    alpha_input = "sweep_value" if variator == "alpha" else "params:alpha"
    beta_input = "sweep_value" if variator == "beta" else "params:beta"
    return const, alpha_input, beta_input


def bgmm_run(experiment: str, value: float) -> Pipeline:
    """Generation from a Bayesian Gaussian mixture fitted on the training encodings (the defence
    slides' prior; issue #12 item 5) with the models of ``E_sweep.<tag>``, without retraining:
    namespace ``E_sweep.<tag>.bgmm`` (inside the run whose models it uses), its outputs beside the
    sweep run's in ``<tag>/prior_bgmm<N>/``."""
    variator = get_experiment(experiment).variator
    trained = f"{experiment}_sweep.{run_tag(variator, value)}"
    const, alpha_input, _ = fixed_value_inputs(variator, value)
    kind = Pipeline([constant_node("bgmm", "latent_prior")])
    ns = derived_namespace(trained, "bgmm")
    p = namespaced(const + kind + _generate(alpha_input, prior_input="latent_prior"), ns, experiment)
    return pipeline(p, inputs={f"{ns}.{name}": f"{trained}.{name}" for name in ("encoder", "decoder")})


def refined_run(experiment: str, value: float) -> Pipeline:
    """Classifier-refined generation (issue #12 item 5; :mod:`lhc_vae.models.refinement`) from the
    BGMM run ``E_sweep.<tag>.bgmm``'s prior and the models of ``E_sweep.<tag>``, without
    retraining: namespace ``E_sweep.<tag>.refined``, its outputs in ``<tag>/prior_bgmm<N>_refined/``."""
    trained = f"{experiment}_sweep.{run_tag(get_experiment(experiment).variator, value)}"
    ns = derived_namespace(trained, "refined")
    node = Node(
        generate_refined,
        inputs=[
            "encoder",
            "decoder",
            "prior",
            "feature_scaler",
            "primary_events",
            "primary_objects",
            "params:n_generate",
            "params:seed",
            "params:process",
            "params:vae",
            "params:refine",
            "params:generation",
        ],
        outputs=["generated_events", "generated_objects", "generated_dm", "generation_stats"],
        name="generate_refined",
    )
    p = namespaced(Pipeline([node]), ns, experiment, extra_globals=("refine",))
    inputs = {f"{ns}.{name}": f"{trained}.{name}" for name in ("encoder", "decoder")}
    inputs[f"{ns}.prior"] = f"{derived_namespace(trained, 'bgmm')}.prior"
    return pipeline(p, inputs=inputs)
