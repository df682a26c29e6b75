"""Kedro project settings."""

import os

# Figures are written to files, never shown: the non-interactive backend, set once for every run,
# before anything imports matplotlib.
os.environ.setdefault("MPLBACKEND", "Agg")

from kedro.config import OmegaConfigLoader

from lhc_vae.hooks import FigureStyle
from lhc_vae.tags import prior_tag, raw_dataset, raw_suffix, value_tag
from lhc_vae.tracking import RunTracking, sqlite_uri

# kedro-mlflow's hook, extended with one nested MLflow run per training/generation run and switched
# by the parameter tracking.enabled (the plugin's own instance is disabled, so that it runs once);
# the HEP figure style for the whole run.
HOOKS = (RunTracking(), FigureStyle())
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "globals": ["globals.yml"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
    # Run directories: beta_${tag:1.5} -> beta_1p5; ${prior:bgmm,50} -> prior_bgmm50; the raw file of a
    # source: ${raw_dataset:delphes} -> the Delphes ROOT dataset, ${raw_suffix:delphes} -> root.
    "custom_resolvers": {
        "tag": value_tag,
        "prior": prior_tag,
        "raw_dataset": raw_dataset,
        "raw_suffix": raw_suffix,
        "sqlite_uri": sqlite_uri,  # mlflow.yml: the tracking store inside the project
    },
}
