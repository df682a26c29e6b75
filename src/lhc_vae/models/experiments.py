"""The single-model experiments: which layout, architecture, variator and losses each uses.

Experiments I and II (multi-model) reuse the same pieces with their own entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras

from lhc_vae.models import architectures as arch
from lhc_vae.models.layouts import JetsLayout, WholeEventLayout
from lhc_vae.models.losses import summed_binary_crossentropy, summed_categorical_crossentropy, summed_mse


@dataclass(frozen=True)
class Experiment:
    name: str
    variator: str  # "alpha" or "beta"
    layout: Any
    encoder: Callable[..., keras.Model]
    decoder: Callable[..., keras.Model]
    #: Reconstruction loss of every decoder output, summed over its features (thesis eq. 4.2).
    losses: dict[str, Callable] = field(default_factory=dict)


def _exp3_losses(layout: JetsLayout) -> dict[str, Callable]:
    return {"met": summed_mse, **{name: summed_mse for name, _, _ in layout.slots}, "mask": summed_binary_crossentropy}


EXPERIMENTS: dict[str, Experiment] = {
    # Thesis §7.3: one alpha-VAE over the whole event; CCE for types, MSE for features and MET
    # (summed over slots and features per event, like every experiment's loss).
    "baseline": Experiment(
        "baseline",
        "alpha",
        WholeEventLayout(19),
        arch.baseline_encoder,
        arch.baseline_decoder,
        {"met": summed_mse, "types": summed_categorical_crossentropy, "features": summed_mse},
    ),
    # Thesis §7.6: one beta-VAE on events with <= 4 jets and <= 2 b-jets; BCE mask + MSE features.
    "exp3": Experiment(
        "exp3", "beta", JetsLayout(4, 2), arch.exp3_encoder, arch.exp3_decoder, _exp3_losses(JetsLayout(4, 2))
    ),
}


#: Variators of the multi-model experiments I and II (thesis §7.4, §7.5); the single-model
#: experiments carry theirs in :data:`EXPERIMENTS`.
MULTI_VARIATOR = {"exp1": "alpha", "exp2": "beta"}


def variator_of(experiment: str) -> str:
    """``alpha`` or ``beta``: the variator of any of the four experiments."""
    return MULTI_VARIATOR[experiment] if experiment in MULTI_VARIATOR else get_experiment(experiment).variator


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}") from None
