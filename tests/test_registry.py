"""The experiment registry (issue #13): one table in the parameters names every run."""

from __future__ import annotations

import pytest

from lhc_vae.registry import from_parameters, load_registry


def test_the_registry_names_every_run_and_refuses_what_it_cannot_build():
    params = {
        "experiments": {
            "baseline": {"default": 0.2, "sweep": [0.1]},
            "exp2": {"default": 1.5, "sweep": [0.5, 1.5]},
            "exp3": {"default": 0.7, "sweep": [0.7]},
        },
        "beyond_thesis": "exp3",
    }
    reg = from_parameters(params)
    assert reg.default_runs() == (
        "baseline_sweep.alpha_0p2",
        "exp2_sweep.beta_1p5",
        "exp3_sweep.beta_0p7",
        "exp3_sweep.beta_0p7.bgmm",
        "exp3_sweep.beta_0p7.refined",
    )
    with pytest.raises(ValueError, match=r"experiments\.exp4: unknown experiment 'exp4'"):
        from_parameters({**params, "experiments": {**params["experiments"], "exp4": params["experiments"]["exp3"]}})
    with pytest.raises(ValueError, match=r"experiments\.exp2 has no default, sweep"):
        from_parameters({**params, "experiments": {**params["experiments"], "exp2": {}}})
    assert [e.pipeline for e in reg.experiments.values()] == ["single", "multi", "single"]
    with pytest.raises(ValueError, match="beyond_thesis must name a single-model beta-VAE"):
        from_parameters({**params, "beyond_thesis": "baseline"})


def test_the_projects_registry_holds_the_four_experiments_at_their_measured_defaults():
    reg = load_registry()
    assert {n: (e.pipeline, e.variator, e.default) for n, e in reg.experiments.items()} == {
        "baseline": ("single", "alpha", 0.2),  # Table 8.1
        "exp1": ("multi", "alpha", 0.3),  # Table 8.1
        "exp2": ("multi", "beta", 0.2),  # measured, README "Fidelity"
        "exp3": ("single", "beta", 0.5),  # measured, README "Fidelity"
    }
    assert reg.beyond_namespaces() == ("exp3_sweep.beta_0p5.bgmm", "exp3_sweep.beta_0p5.refined")
