"""Single-model VAE experiments (baseline, experiment III) as Kedro pipelines."""

from lhc_vae.pipelines.vae.pipeline import bgmm_run, create_pipelines, fixed_value_run, refined_run

__all__ = ["bgmm_run", "create_pipelines", "fixed_value_run", "refined_run"]
