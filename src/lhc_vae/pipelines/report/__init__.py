"""The report pipeline."""

from lhc_vae.pipelines.report.pipeline import create_pipeline

__all__ = ["create_pipeline"]
