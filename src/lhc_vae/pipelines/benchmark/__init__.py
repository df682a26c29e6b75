"""The benchmark pipelines."""

from lhc_vae.pipelines.benchmark.pipeline import create_pipeline, create_scaling_pipeline

__all__ = ["create_pipeline", "create_scaling_pipeline"]
