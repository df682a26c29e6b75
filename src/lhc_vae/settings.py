"""Kedro project settings."""

import os

from kedro.config import OmegaConfigLoader

from lhc_vae.tags import prior_tag, raw_dataset, raw_suffix, value_tag

# Figures are written to files, never shown: the non-interactive backend, set once for every run.
os.environ.setdefault("MPLBACKEND", "Agg")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "globals": ["globals.yml"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    # Run directories: beta_${tag:1.5} -> beta_1p5; ${prior:bgmm,50} -> prior_bgmm50; the raw file of a
    # source: ${raw_dataset:delphes} -> the Delphes ROOT dataset, ${raw_suffix:delphes} -> root.
    "custom_resolvers": {"tag": value_tag, "prior": prior_tag, "raw_dataset": raw_dataset, "raw_suffix": raw_suffix},
}
