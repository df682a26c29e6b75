"""Preprocessing pipeline: raw Dark Machines file -> event/object tables -> model features."""

from lhc_vae.pipelines.preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
