"""The ``mc`` pipeline: Pythia8 + FastJet + detector response -> Dark Machines file."""

from lhc_vae.pipelines.mc.pipeline import create_pipeline

__all__ = ["create_pipeline"]
