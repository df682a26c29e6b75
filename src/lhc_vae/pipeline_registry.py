"""Project pipelines, registered explicitly (``find_pipelines`` imports only the one asked for)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from lhc_vae.pipelines import mc, preprocessing


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "mc": mc.create_pipeline(),
        "preprocessing": preprocessing.create_pipeline(),
    }
    pipelines["__default__"] = pipelines["preprocessing"]
    return pipelines
