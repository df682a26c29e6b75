"""Multi-model experiments I and II as Kedro pipelines."""

from lhc_vae.pipelines.multi.pipeline import create_pipelines, fixed_value_run

__all__ = ["create_pipelines", "fixed_value_run"]
