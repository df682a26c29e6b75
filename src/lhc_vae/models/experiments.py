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


#: The alpha or beta of each experiment's default run: ``kedro run``, the report's rows and the
#: learning curve. The alpha-VAEs at Table 8.1's alpha. The beta-VAEs below Table 8.1's 1.5: with
#: the standard ELBO (reconstruction summed over features) 1.5 blurs their events; README "Fidelity"
#: has the full-event AUCs measured on the make-run sample at each value tried.
DEFAULT_VALUES: dict[str, float] = {
    "baseline": 0.2,  # Table 8.1
    "exp1": 0.3,  # Table 8.1
    "exp2": 0.2,  # measured (issue #12): AUC 0.745 at 0.2, 0.779 at 0.5; Table 8.1: 1.5
    "exp3": 0.5,  # measured (issue #12): AUC 0.835 at 0.5 (0.786 with the BGMM prior); Table 8.1: 1.5
}
