"""The compare pipeline: any generator's Dark Machines file against a truth file."""

from lhc_vae.pipelines.compare.pipeline import create_pipeline

__all__ = ["create_pipeline"]
