"""Variators: the component between encoder and decoder (thesis §7.3.2).

* :class:`AlphaVariator` (alpha-VAE, thesis §4.2.1): adds N(0, alpha) noise to the encoding
  while training; no KL term.
* :class:`BetaVariator` (beta-VAE, thesis §4.2.2): reparameterisation z = mu + exp(log_var / 2) eps,
  and the KL divergence to N(0, 1) as a second output, weighted by beta in the loss
  L = L_rec + beta * L_KL (thesis eq. 4.2).

The loss terms themselves (:func:`kl_divergence`, ``kl_loss`` and the reconstruction losses) live
in :mod:`lhc_vae.models.losses`.
"""

from __future__ import annotations

import keras
from keras import ops

from lhc_vae.models.losses import kl_divergence


@keras.saving.register_keras_serializable(package="lhc_vae")
class AlphaVariator(keras.layers.Layer):
    """z = mu + alpha * eps while training, z = mu otherwise (thesis §4.2.1)."""

    def __init__(self, alpha: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)

    def call(self, z_mean, training=None):
        if training:
            return z_mean + self.alpha * keras.random.normal(ops.shape(z_mean), seed=self._generator)
        return z_mean

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "seed": self.seed}


@keras.saving.register_keras_serializable(package="lhc_vae")
class BetaVariator(keras.layers.Layer):
    """Reparameterised sample and per-event KL divergence (thesis eq. 4.2)."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)

    def call(self, z_mean, z_log_var, training=None):
        if training:
            eps = keras.random.normal(ops.shape(z_mean), seed=self._generator)
            z = z_mean + ops.exp(0.5 * z_log_var) * eps
        else:
            z = z_mean
        return z, kl_divergence(z_mean, z_log_var)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
