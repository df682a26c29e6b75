"""The benchmark pipeline."""

from lhc_vae.pipelines.benchmark.pipeline import create_pipeline

__all__ = ["create_pipeline"]
