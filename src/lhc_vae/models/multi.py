"""Multi-model experiments I and II (thesis §7.4, §7.5): components, their data, and generation.

Experiment I (alpha-VAEs, generation from held-out truth plus noise, §7.4.2):
  * ``event`` model: MET pair + thermometer mask of ``mask_width`` entries per type (Table 3.1
    order; the thesis's 4 give its 28-entry mask, §7.4.1);
  * one model per type: the event's MET, the object's ``mask_width``-entry thermometer position
    mask and its four features.
  The width is a parameter (``exp1.mask_width``): with the thesis's 4, no event can have a fifth jet,
  while 34 % of our ttbar events have five or more (issue #12). Trained models carry their width in
  their shapes, so generation reads it from the event decoder (:func:`mask_width_of`).
Experiment II (beta-VAEs, generation from noise, §7.5.3):
  * ``met`` model on the MET pair; one model per type on the four features alone;
  * masks from the two-level statistical generator (:mod:`lhc_vae.models.mask_generator`).
  * With ``leading_models`` (``exp2.leading_models``, beyond the thesis) the leading jet and the
    leading b-jet of an event have models of their own (``j_lead``, ``b_lead``) and ``j``/``b`` learn
    the other jets. The thesis's objects are independent draws of their type, so the hardest jet of an
    event is as soft as any: even features drawn from the true per-type distributions fail the
    trigger in about 4.5 % of our ttbar events (the thesis's exp II reads 4.55 %), about 2 % with the
    leading jet and b-jet drawn apart (:func:`independent_objects`; issue #12).

Generation is batched: all events at once, then all objects of a type in one encoder/decoder call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lhc_vae.events.schema import COUNT_COLUMNS, OBJECT_FEATURES, SYMBOL_SLUG, SYMBOLS, TYPE_DTYPE
from lhc_vae.models import architectures as arch
from lhc_vae.models.layouts import MET_FEATURES
from lhc_vae.models.losses import summed_binary_crossentropy, summed_mse
from lhc_vae.models.priors import alpha_perturbation

#: Entries per type of the experiment I thermometer masks in the thesis (§7.4.1).
THERMOMETER_WIDTH = 4
#: Most objects an event may have (thesis §7.4.2, §7.5.3).
MAX_OBJECTS = 19
#: Types whose leading object has its own experiment II model with ``leading_models``.
LEADING_TYPES = ("j", "b")
#: Name suffix of those models.
LEADING_SUFFIX = "_lead"


def thermometer(counts: np.ndarray, width: int = THERMOMETER_WIDTH) -> np.ndarray:
    """Counts (n, types) -> (n, types * width) with the first min(count, width) entries of a block 1.

    Example (thesis §7.4.1): 2 jets, 2 b-jets -> 1100 1100 0000 0000 0000 0000 0000.
    """
    counts = np.asarray(counts)
    bits = (np.arange(width)[None, None, :] < counts[:, :, None]).astype(np.float32)
    return bits.reshape(len(counts), -1)


def thermometer_counts(bits: np.ndarray, threshold: float, width: int = THERMOMETER_WIDTH) -> np.ndarray:
    """Inverse of :func:`thermometer` for model outputs: entries above ``threshold`` per block."""
    return (np.asarray(bits).reshape(len(bits), -1, width) > threshold).sum(axis=-1)


def cap_objects(counts: np.ndarray, max_objects: int = MAX_OBJECTS) -> np.ndarray:
    """Drop objects beyond ``max_objects`` per event, last types first (Table 3.1 order kept)."""
    room = np.maximum(max_objects - np.cumsum(counts, axis=1) + counts, 0)
    return np.minimum(counts, room)


@dataclass(frozen=True)
class Component:
    """One VAE of a multi-model experiment."""

    name: str  # "event" / "met", or the symbol slug of a particle type
    symbol: str | None
    input_dims: dict[str, int]
    losses: dict[str, Callable]  # summed reconstruction loss per output (thesis eq. 4.2)
    encoder: Callable
    decoder: Callable
    #: the objects of ``symbol`` it learns by their pT rank in their type: all, the leading one, the others
    rank: str = "all"


def components(
    experiment: str, latent_dim: int, mask_width: int = THERMOMETER_WIDTH, leading_models: bool = False
) -> list[Component]:
    """The components of experiment ``exp1`` or ``exp2`` with the thesis's latent sizes; exp I's
    thermometer masks have ``mask_width`` entries per type (thesis §7.4.1: 4); exp II with
    ``leading_models`` adds a model of the leading object of each of :data:`LEADING_TYPES`."""
    if experiment == "exp1":
        if not 1 <= int(mask_width) <= MAX_OBJECTS:
            raise ValueError(f"exp1.mask_width must be between 1 and {MAX_OBJECTS} (thesis: 4), got {mask_width}")
        event_dims = {"met": 2, "mask": int(mask_width) * len(SYMBOLS)}
        particle_dims = {"met": 2, "position": int(mask_width), "features": 4}
        out = [
            Component(
                "event",
                None,
                event_dims,
                {"met": summed_mse, "mask": summed_binary_crossentropy},
                lambda: arch.exp1_encoder(event_dims, latent_dim),
                lambda: arch.exp1_decoder(event_dims, latent_dim),
            )
        ]
        for s in SYMBOLS:
            out.append(
                Component(
                    SYMBOL_SLUG[s],
                    s,
                    particle_dims,
                    {"met": summed_mse, "position": summed_binary_crossentropy, "features": summed_mse},
                    lambda: arch.exp1_encoder(particle_dims, latent_dim),
                    lambda: arch.exp1_decoder(particle_dims, latent_dim),
                )
            )
        return out
    if experiment == "exp2":
        met_dims, feat_dims = {"met": 2}, {"features": 4}
        out = [
            Component(
                "met",
                None,
                met_dims,
                {"met": summed_mse},
                lambda: arch.exp2_encoder(met_dims, latent_dim),
                lambda: arch.exp2_decoder(met_dims, latent_dim),
            )
        ]
        for s in SYMBOLS:  # particle models: doubled units and latent size (thesis §7.5.3)
            split = leading_models and s in LEADING_TYPES
            for name, rank in (
                ((SYMBOL_SLUG[s] + LEADING_SUFFIX, "leading"), (SYMBOL_SLUG[s], "others"))
                if split
                else ((SYMBOL_SLUG[s], "all"),)
            ):
                out.append(
                    Component(
                        name,
                        s,
                        feat_dims,
                        {"features": summed_mse},
                        lambda: arch.exp2_encoder(feat_dims, 2 * latent_dim, scale=2),
                        lambda: arch.exp2_decoder(feat_dims, 2 * latent_dim, scale=2),
                        rank,
                    )
                )
        return out
    raise KeyError(f"unknown multi-model experiment {experiment!r}; known: exp1, exp2")


def component_arrays(
    experiment: str, component: Component, events: pd.DataFrame, objects: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Training arrays of one component from standardised model-input tables."""
    met = events[list(MET_FEATURES)].to_numpy(np.float32)
    if component.symbol is None:
        if experiment == "exp1":
            counts = events[[COUNT_COLUMNS[s] for s in SYMBOLS]].to_numpy()
            return {"met": met, "mask": thermometer(counts, component.input_dims["mask"] // len(SYMBOLS))}
        return {"met": met}
    obj = objects[(objects["type"] == component.symbol).to_numpy()]
    if component.rank != "all":
        leading = obj["position"].to_numpy() == 0
        obj = obj[leading if component.rank == "leading" else ~leading]
    feats = obj[list(OBJECT_FEATURES)].to_numpy(np.float32)
    if experiment == "exp2":
        return {"features": feats}
    width = component.input_dims["position"]
    obj_pos = obj["position"].to_numpy()
    inside = obj_pos < width
    row = (
        pd.Series(np.arange(len(events)), index=events["event_index"].to_numpy())
        .reindex(obj["event_index"].to_numpy())
        .to_numpy()
    )
    inside &= ~np.isnan(row)
    row = row[inside].astype(np.int64)
    position = thermometer(obj_pos[inside][:, None] + 1, width)
    return {"met": met[row], "position": position, "features": feats[inside]}


@dataclass(frozen=True)
class ComponentLayout:
    """One component's training arrays (:func:`component_arrays`) in the shape of a layout, so that
    :class:`lhc_vae.models.streaming.SplitStream` reads them from the model-input files in chunks:
    every event is kept, and the rows are objects of the component's type (events for the event model)."""

    experiment: str
    component: Component
    #: The rows are not one per event: a stream counts them by reading its chunks.
    rows_are_events = False

    def select(self, events: pd.DataFrame) -> np.ndarray:
        return np.ones(len(events), dtype=bool)

    def to_arrays(self, events: pd.DataFrame, objects: pd.DataFrame) -> dict[str, np.ndarray]:
        return component_arrays(self.experiment, self.component, events, objects)


def models_in_use(trained: tuple[dict, ...]) -> dict[str, dict]:
    """Trained components (``{"encoder", "decoder", "training"}``) by name, without those the
    parameters left unused (exp II's leading models with ``leading_models: false``)."""
    return {t["training"]["component"]: t for t in trained if t["training"].get("used", True)}


def independent_objects(objects: pd.DataFrame, seed: int, leading_types: tuple[str, ...] = ()) -> pd.DataFrame:
    """``objects`` with every object's four features taken from a random object of its type (for
    ``leading_types``, of its type and the same rank: leading or not), every event keeping its
    multiplicities: the events of a *perfect* experiment II, whose objects are drawn independently
    per type (thesis §7.5.3). Their invalid event rate is that of a perfect model of the design (a
    biased model may read lower or higher)."""
    rng = np.random.default_rng(seed)
    features = objects[list(OBJECT_FEATURES)].to_numpy(copy=True)
    types = objects["type"].astype(str).to_numpy()
    leading = objects["position"].to_numpy() == 0
    for s in SYMBOLS:
        of_type = types == s
        for group in (of_type & leading, of_type & ~leading) if s in leading_types else (of_type,):
            rows = np.flatnonzero(group)
            features[rows] = features[rng.permutation(rows)]
    return objects.assign(**{f: features[:, k] for k, f in enumerate(OBJECT_FEATURES)})


def _objects_table(event_index: np.ndarray, symbol: str, features: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "event_index": event_index.astype(np.int64),
            "type": pd.Categorical([symbol] * len(event_index), dtype=TYPE_DTYPE),
        }
    )
    for k, f in enumerate(OBJECT_FEATURES):
        frame[f] = features[:, k].astype(np.float32)
    return frame


def mask_width_of(models: dict[str, dict]) -> int:
    """The thermometer width per type that experiment I's models were trained with, read from the
    event decoder's mask output (``len(SYMBOLS)`` blocks)."""
    return int(models["event"]["decoder"].output["mask"].shape[-1]) // len(SYMBOLS)


def components_of(experiment: str, models: dict[str, dict], latent_dim: int) -> list[Component]:
    """The components that trained ``models`` (:func:`models_in_use`) were built as: exp I's mask
    width read from the event decoder, exp II's leading models present or not; whatever the
    parameters of the run that generates with them say."""
    if experiment == "exp1":
        return components(experiment, latent_dim, mask_width=mask_width_of(models))
    return components(experiment, latent_dim, leading_models=bool(leading_types_of(models)))


def leading_types_of(models: dict[str, dict]) -> tuple[str, ...]:
    """The types of :data:`LEADING_TYPES` whose leading objects have a model among ``models``."""
    return tuple(s for s in LEADING_TYPES if SYMBOL_SLUG[s] + LEADING_SUFFIX in models)


def generate_exp1(
    models: dict[str, dict],
    truth_events: pd.DataFrame,
    truth_objects: pd.DataFrame,
    n: int,
    alpha: float,
    threshold: float,
    seed: int,
    encode: Callable,
    decode: Callable,
    width: int = THERMOMETER_WIDTH,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Experiment I generation (thesis §7.4.2), batched, with thermometer masks of ``width``
    entries per type (that of the models' training, :func:`mask_width_of`).

    1. encode n held-out truth events (MET + mask) and perturb with N(0, alpha); decode a new MET
       and mask; binarise the mask at ``threshold``; cap at 19 objects;
    2. per type, for every requested (event, position): the generated MET, the position mask and
       the features of the truth event's *own* object of that type and position (thesis §7.4.2
       keeps the event) are encoded, perturbed and decoded into the new object, all requests of a
       type in one call. Where the decoded mask asks for an object the truth event does not have,
       the features of a random held-out object of that type and position stand in. Positions are
       those of training (below ``width``).
    Returns standardised (events, objects) and the generated counts.
    """
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(truth_events), size=n)
    picked = truth_events.iloc[rows]
    event_inputs = {
        "met": picked[list(MET_FEATURES)].to_numpy(np.float32),
        "mask": thermometer(picked[[COUNT_COLUMNS[s] for s in SYMBOLS]].to_numpy(), width),
    }
    z = encode(models["event"]["encoder"], event_inputs)["z_mean"]
    out = decode(models["event"]["decoder"], alpha_perturbation(z, alpha, rng))
    met = out["met"]
    counts = cap_objects(thermometer_counts(out["mask"], threshold, width))
    truth_row = pd.Series(np.arange(len(truth_events)), index=truth_events["event_index"].to_numpy())
    parts = []
    for k, symbol in enumerate(SYMBOLS):
        requests = counts[:, k]
        total = int(requests.sum())
        if total == 0:
            continue
        event_index = np.repeat(np.arange(n), requests)
        position = np.arange(total) - np.repeat(np.cumsum(requests) - requests, requests)
        pool = truth_objects[
            (truth_objects["type"] == symbol).to_numpy() & (truth_objects["position"].to_numpy() < width)
        ]
        pool_pos = pool["position"].to_numpy()
        pool_feats = pool[list(OBJECT_FEATURES)].to_numpy(np.float32)
        # the truth event's own object at (event, position): key = truth row * width + position
        own = pd.Series(
            np.arange(len(pool)),
            index=truth_row.reindex(pool["event_index"].to_numpy()).to_numpy() * width + pool_pos,
        )
        match = own.reindex(rows[event_index] * width + position).to_numpy()
        feats = np.empty((total, 4), dtype=np.float32)
        found = ~np.isnan(match)
        feats[found] = pool_feats[match[found].astype(np.int64)]
        for p in range(width):
            want = np.flatnonzero(~found & (position == p))
            have = np.flatnonzero(pool_pos == p)
            if want.size:
                source = have if have.size else np.arange(len(pool))
                feats[want] = pool_feats[source[rng.integers(0, source.size, size=want.size)]]
        inputs = {"met": met[event_index], "position": thermometer(position[:, None] + 1, width), "features": feats}
        model = models[SYMBOL_SLUG[symbol]]
        zp = encode(model["encoder"], inputs)["z_mean"]
        gen = decode(model["decoder"], alpha_perturbation(zp, alpha, rng))
        parts.append(_objects_table(event_index, symbol, gen["features"]))
    objects = pd.concat(parts, ignore_index=True) if parts else _objects_table(np.zeros(0), "j", np.zeros((0, 4)))
    events = pd.DataFrame({"met": met[:, 0].astype(np.float64), "met_phi": met[:, 1].astype(np.float64)})
    return events, objects.sort_values("event_index", kind="stable").reset_index(drop=True), counts


def generate_exp2(
    models: dict[str, dict], masks: np.ndarray, latent_dim: int, seed: int, decode: Callable
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Experiment II generation (thesis §7.5.3), batched: given the drawn masks (n, 7), one MET
    decoder call for all events, then one decoder call per type for all its objects; objects are
    scattered to their events (pT order is restored when the tables are built). Masks are capped
    at 19 objects per event, last types first (thesis §7.5.3, step 5). Where ``models`` hold a
    leading model of a type (``j_lead``: ``leading_models``), every event's first object of that
    type comes from it and the others from the type's model."""
    rng = np.random.default_rng(seed)
    masks = cap_objects(np.asarray(masks))  # at most 19 objects per event (thesis §7.5.3, step 5)
    n = len(masks)
    met = decode(models["met"]["decoder"], rng.standard_normal((n, latent_dim)).astype(np.float32))["met"]
    parts = []
    for k, symbol in enumerate(SYMBOLS):
        counts = masks[:, k]
        lead = models.get(SYMBOL_SLUG[symbol] + LEADING_SUFFIX)
        draws = [(models[SYMBOL_SLUG[symbol]], counts)]
        if lead is not None:
            first = np.minimum(counts, 1)
            draws = [(lead, first), (models[SYMBOL_SLUG[symbol]], counts - first)]
        for model, per_event in draws:
            total = int(per_event.sum())
            if total == 0:
                continue
            z = rng.standard_normal((total, 2 * latent_dim)).astype(np.float32)
            feats = decode(model["decoder"], z)["features"]
            parts.append(_objects_table(np.repeat(np.arange(n), per_event), symbol, feats))
    objects = pd.concat(parts, ignore_index=True) if parts else _objects_table(np.zeros(0), "j", np.zeros((0, 4)))
    events = pd.DataFrame({"met": met[:, 0].astype(np.float64), "met_phi": met[:, 1].astype(np.float64)})
    return events, objects.sort_values("event_index", kind="stable").reset_index(drop=True)
