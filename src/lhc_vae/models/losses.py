"""The VAE loss, in one place: thesis eq. 4.2 (§4.2.2), L_VAE = L_rec + beta * L_KL.

Both terms are defined per event and averaged over the events of a batch:

* L_rec sums the reconstruction error over every feature of every decoder output (all non-batch
  axes): squared errors for continuous features (MET, object features, standardised), binary
  cross-entropy for presence masks, categorical cross-entropy for one-hot types (already a sum
  over classes; summed here over the object slots too). The thesis writes MSE and BCE (App. A.2)
  but not their reduction over features; the standard ELBO sums them, which is what makes beta
  the thesis's beta rather than a beta divided by the number of features.
* L_KL is KL(N(mu, sigma^2) || N(0, 1)) summed over the latent dimensions (:func:`kl_divergence`).

With these sums L_rec + L_KL per event is the negative ELBO of a Bernoulli likelihood for masks,
a categorical one for types and a Gaussian one of variance 1/2 for the standardised features
(sum (x - x_hat)^2 = -log N(x; x_hat, 1/2) + const), and beta in the loss is the beta of the
thesis's tables (no separate reconstruction weight).

Alpha-VAEs (thesis §4.2.1) use the same reconstruction losses without the KL term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

#: How the reconstruction term is reduced (recorded in ``training.json``).
RECONSTRUCTION_REDUCTION = "sum over features per event, mean over events"
#: How the KL term is reduced (recorded in ``training.json`` for beta-VAEs).
KL_REDUCTION = "sum over latent dimensions per event, mean over events"


def _sum_per_event(values):
    """Sum over every axis but the first (batch): one value per event."""
    ndim = len(values.shape)
    return ops.sum(values, axis=tuple(range(1, ndim))) if ndim > 1 else values


@keras.saving.register_keras_serializable(package="lhc_vae")
def summed_mse(y_true, y_pred):
    """Squared error summed over all features of the output, one value per event (Keras then
    averages over events). Zeros against ones of shape (n, 4) give 4 per event (Keras's "mse": 1)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    return _sum_per_event(ops.square(y_pred - y_true))


@keras.saving.register_keras_serializable(package="lhc_vae")
def summed_binary_crossentropy(y_true, y_pred):
    """Binary cross-entropy summed over all entries of a (sigmoid) mask output, per event;
    p = 0.5 everywhere gives k ln 2 for k entries."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    return _sum_per_event(ops.binary_crossentropy(y_true, y_pred, from_logits=False))


@keras.saving.register_keras_serializable(package="lhc_vae")
def summed_categorical_crossentropy(y_true, y_pred):
    """Categorical cross-entropy over the last axis (classes), summed over the remaining non-batch
    axes (object slots), per event; uniform predictions over c classes in s slots give s ln c."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    return _sum_per_event(ops.categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1))


#: The reconstruction losses an experiment may give its outputs, by name.
RECONSTRUCTION_LOSSES: dict[str, Callable] = {
    f.__name__: f for f in (summed_mse, summed_binary_crossentropy, summed_categorical_crossentropy)
}


def reconstruction_loss(loss: str | Callable) -> Callable:
    """The summed loss ``loss`` names (or is); Keras's averaged losses ("mse", ...) are refused, so
    that every output of every experiment uses the one definition of L_rec above."""
    if isinstance(loss, str):
        found = RECONSTRUCTION_LOSSES.get(loss)
    else:
        found = next((f for f in RECONSTRUCTION_LOSSES.values() if f is loss), None)
    if found is None:
        raise ValueError(
            f"reconstruction loss {loss!r} is not one of {sorted(RECONSTRUCTION_LOSSES)}: the reconstruction "
            "term is summed over features per event (thesis eq. 4.2, lhc_vae.models.losses)"
        )
    return found


def kl_divergence(z_mean, z_log_var):
    """KL(N(mu, sigma^2) || N(0, 1)) summed over latent dimensions, one value per event."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


@keras.saving.register_keras_serializable(package="lhc_vae")
def kl_loss(y_true, y_pred):
    """Loss of the per-event KL output (:func:`kl_divergence`): its batch mean (the target is
    ignored); weighted by beta (thesis eq. 4.2)."""
    return ops.mean(y_pred)


def vae_loss(reconstruction: dict[str, Any], beta: float | None) -> tuple[dict[str, Any], dict[str, float]]:
    """The VAE loss of thesis eq. 4.2 (§4.2.2), as Keras's per-output losses and their weights:

        L = sum over decoder outputs o of L_rec,o  +  beta * L_KL

    ``reconstruction`` gives each decoder output one summed reconstruction loss
    (:data:`RECONSTRUCTION_LOSSES`, by function or name; Keras's averaged ``"mse"`` is refused),
    summed over the output's features per event; L_KL is :func:`kl_divergence`, summed over the
    latent dimensions per event, on the training model's ``kl`` output (beta-VAEs only; an
    alpha-VAE, ``beta=None``, has L = L_rec). Keras averages every term over the events of a batch
    and adds them with these weights: 1 for each reconstruction term, beta for the KL, so beta is
    the beta of the thesis's tables (no separate reconstruction weight).
    """
    losses = {name: reconstruction_loss(loss) for name, loss in reconstruction.items()}
    weights = dict.fromkeys(losses, 1.0)
    if beta is not None:
        losses["kl"] = kl_loss
        weights["kl"] = float(beta)
    return losses, weights


def loss_record(variator: str, beta: float | None) -> dict[str, Any]:
    """What ``training.json`` says about the loss: beta, the effective beta (the weight of
    L_KL against a reconstruction term of weight 1; equal to beta since there is no separate
    reconstruction weight) and the reductions of both terms."""
    record: dict[str, Any] = {"reconstruction_loss": RECONSTRUCTION_REDUCTION}
    if variator == "beta":
        record.update(beta=float(beta), effective_beta=float(beta), kl_loss=KL_REDUCTION)
    else:
        record.update(beta=None, effective_beta=None, kl_loss=None)
    return record


def continuous_outputs(losses: dict[str, Any]) -> list[str]:
    """The decoder outputs with a squared-error loss: the Gaussian part of the likelihood, which
    generation may sample (:func:`lhc_vae.models.vae.add_likelihood_noise`)."""
    return [name for name, loss in losses.items() if reconstruction_loss(loss) is summed_mse]
