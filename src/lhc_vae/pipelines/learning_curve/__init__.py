"""The ``learning_curve`` pipeline (issue #12 item 4)."""

from lhc_vae.pipelines.learning_curve.pipeline import create_pipelines

__all__ = ["create_pipelines"]
