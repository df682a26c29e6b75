"""Single-model VAE experiments (baseline, experiment III) as Kedro pipelines."""

from lhc_vae.pipelines.vae.pipeline import create_pipelines, fixed_value_run

__all__ = ["create_pipelines", "fixed_value_run"]
