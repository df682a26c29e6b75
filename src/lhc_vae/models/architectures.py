"""Encoders and decoders of the experiments, with the thesis's layer sizes.

* Baseline (thesis §7.3.2): per input Flatten + 2 x Dense(512, ReLU); concat; 2 x Dense(512, ReLU);
  Dense(2 x latent) + BatchNormalization; Dense(latent) for the mean (an alpha-VAE: no log-variance).
  Decoder: 2 x Dense(512, ReLU); per head Dense(512, ReLU) then Dense(2) / Dense(K x 8, softmax over
  the 8 classes) / Dense(K x 4). The thesis does not give the baseline's latent size; 160, the size
  of its experiment I alpha-VAEs, is the default.
* Experiment III (thesis §7.6.2): MET input Dense(128), Dense(64); each of the 6 particle inputs
  Dense(256), Dense(128); the 6-entry mask enters the concatenation as it is; then Dense 512, 512,
  256, 256, 128 (ReLU); mean and log-variance Dense(128). Decoder: Dense 256, 256, 512, 512 (ReLU);
  heads Dense(64, ReLU) then Dense(2) for MET, Dense(4) per particle and Dense(6, sigmoid) for the
  mask (the thesis text says 2 units for the mask head; the mask has 6 entries, so 6).
"""

from __future__ import annotations

import keras
from keras import layers

from lhc_vae.models.layouts import JetsLayout, WholeEventLayout


def _dense_stack(x, units, name):
    for i, u in enumerate(units):
        x = layers.Dense(u, activation="relu", name=f"{name}_dense{i}")(x)
    return x


def baseline_encoder(layout: WholeEventLayout, latent_dim: int = 160) -> keras.Model:
    k = layout.max_objects
    inputs = {
        "met": keras.Input((2,), name="met"),
        "types": keras.Input((k, layout.n_classes), name="types"),
        "features": keras.Input((k, 4), name="features"),
    }
    branches = [_dense_stack(layers.Flatten()(x), [512, 512], f"enc_{name}") for name, x in inputs.items()]
    h = _dense_stack(layers.Concatenate()(branches), [512, 512], "enc_joint")
    h = layers.Dense(2 * latent_dim, name="enc_wide")(h)
    h = layers.BatchNormalization(name="enc_bn")(h)
    # an alpha-VAE's encoder is deterministic (thesis §4.2.1): z = z_mean + N(0, alpha); a
    # log-variance head would get no gradient (Keras warned every epoch), so there is none
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    return keras.Model(inputs, {"z_mean": z_mean}, name="encoder")


def baseline_decoder(layout: WholeEventLayout, latent_dim: int = 160) -> keras.Model:
    k, c = layout.max_objects, layout.n_classes
    z = keras.Input((latent_dim,), name="z")
    h = _dense_stack(z, [512, 512], "dec")
    met = layers.Dense(2, name="met")(_dense_stack(h, [512], "dec_met"))
    types = layers.Dense(k * c)(_dense_stack(h, [512], "dec_types"))
    types = layers.Softmax(axis=-1, name="types")(layers.Reshape((k, c))(types))
    feats = layers.Reshape((k, 4), name="features")(layers.Dense(k * 4)(_dense_stack(h, [512], "dec_features")))
    return keras.Model(z, {"met": met, "types": types, "features": feats}, name="decoder")


def exp3_encoder(layout: JetsLayout, latent_dim: int = 128) -> keras.Model:
    inputs = {"met": keras.Input((2,), name="met")}
    branches = [_dense_stack(inputs["met"], [128, 64], "enc_met")]
    for name, _, _ in layout.slots:
        inputs[name] = keras.Input((4,), name=name)
        branches.append(_dense_stack(inputs[name], [256, 128], f"enc_{name}"))
    inputs["mask"] = keras.Input((len(layout.slots),), name="mask")
    branches.append(inputs["mask"])
    h = _dense_stack(layers.Concatenate()(branches), [512, 512, 256, 256, 128], "enc_joint")
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(inputs, {"z_mean": z_mean, "z_log_var": z_log_var}, name="encoder")


def exp3_decoder(layout: JetsLayout, latent_dim: int = 128) -> keras.Model:
    z = keras.Input((latent_dim,), name="z")
    h = _dense_stack(z, [256, 256, 512, 512], "dec")
    outputs = {"met": layers.Dense(2, name="met")(_dense_stack(h, [64], "dec_met"))}
    for name, _, _ in layout.slots:
        outputs[name] = layers.Dense(4, name=name)(_dense_stack(h, [64], f"dec_{name}"))
    outputs["mask"] = layers.Dense(len(layout.slots), activation="sigmoid", name="mask")(
        _dense_stack(h, [64], "dec_mask")
    )
    return keras.Model(z, outputs, name="decoder")


def exp1_encoder(input_dims: dict[str, int], latent_dim: int = 160) -> keras.Model:
    """Experiment I alpha-VAE encoder (thesis §7.4.2): per input 2 x Dense(512, ReLU); concat;
    2 x Dense(512, ReLU); Dense(2 x latent) + BatchNormalization; Dense(latent) embedding."""
    inputs = {name: keras.Input((dim,), name=name) for name, dim in input_dims.items()}
    branches = [_dense_stack(x, [512, 512], f"enc_{name}") for name, x in inputs.items()]
    h = _dense_stack(layers.Concatenate()(branches), [512, 512], "enc_joint")
    h = layers.BatchNormalization(name="enc_bn")(layers.Dense(2 * latent_dim, name="enc_wide")(h))
    return keras.Model(inputs, {"z_mean": layers.Dense(latent_dim, name="z_mean")(h)}, name="encoder")


def exp1_decoder(output_dims: dict[str, int], latent_dim: int = 160) -> keras.Model:
    """Experiment I decoder (thesis §7.4.2): 2 x Dense(512, ReLU), then per output: the binary
    mask Dense(512, ReLU) + Dense(k, sigmoid); MET Dense(256, ReLU) + Dense(2); particle
    features Dense(512, ReLU) + Dense(4)."""
    z = keras.Input((latent_dim,), name="z")
    h = _dense_stack(z, [512, 512], "dec")
    outputs = {}
    for name, dim in output_dims.items():
        if name == "met":
            outputs[name] = layers.Dense(dim, name=name)(_dense_stack(h, [256], "dec_met"))
        elif name == "features":
            outputs[name] = layers.Dense(dim, name=name)(_dense_stack(h, [512], "dec_features"))
        else:  # binary masks
            outputs[name] = layers.Dense(dim, activation="sigmoid", name=name)(_dense_stack(h, [512], f"dec_{name}"))
    return keras.Model(z, outputs, name="decoder")


def exp2_encoder(input_dims: dict[str, int], latent_dim: int, scale: int = 1) -> keras.Model:
    """Experiment II beta-VAE encoder (thesis §7.5.3): Dense 128, 128, 64, 64 (ReLU) x scale,
    Dense(latent), then mean and log-variance Dense(latent). Particle models use scale 2."""
    ((name, dim),) = input_dims.items()
    x = keras.Input((dim,), name=name)
    h = _dense_stack(x, [128 * scale, 128 * scale, 64 * scale, 64 * scale], "enc")
    h = layers.Dense(latent_dim, name="enc_latent")(h)
    return keras.Model(
        {name: x},
        {
            "z_mean": layers.Dense(latent_dim, name="z_mean")(h),
            "z_log_var": layers.Dense(latent_dim, name="z_log_var")(h),
        },
        name="encoder",
    )


def exp2_decoder(output_dims: dict[str, int], latent_dim: int, scale: int = 1) -> keras.Model:
    """Experiment II decoder (thesis §7.5.3): Dense 64, 64, 64 (ReLU) x scale, then a linear output."""
    ((name, dim),) = output_dims.items()
    z = keras.Input((latent_dim,), name="z")
    h = _dense_stack(z, [64 * scale] * 3, "dec")
    return keras.Model(z, {name: layers.Dense(dim, name=name)(h)}, name="decoder")
