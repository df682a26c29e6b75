"""From latent points to physical events (GeV), with every correction counted (issue #5).

Decoder outputs -> layout tables (standardised) -> inverse scaler (10**x, x * std + mean) ->
phi wrapped to [-pi, pi] and E >= pT enforced, each counted. Vectorised end to end.

Time per event (thesis eq. 6.7, issue #11 item 8) has one definition for every experiment,
:func:`time_per_event` applied to a ``run(count, seed)`` that goes from the experiment's own start
point (:data:`START_POINTS`) to physical events in GeV. The runs are built here, once, by
:func:`single_model_run` and :func:`multi_model_run`; the generation nodes
(:func:`run_generation`, in seeded chunks, here or on a Dask cluster) and the benchmark
(:func:`timed`) both use them, so the two time the same chain.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np
import pandas as pd
from distributed.diagnostics.plugin import WorkerPlugin

from lhc_vae.cluster import optional_dask_client, peak_rss_mb
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.schema import EventTables, primary_tables, wrap_phi
from lhc_vae.events.selection import evaluate_selection
from lhc_vae.io import Chunk, chunked
from lhc_vae.models import multi, priors
from lhc_vae.models.mask_generator import TwoLevelMaskGenerator
from lhc_vae.models.vae import Offset, add_likelihood_noise, decode, encode, likelihood_generator

log = logging.getLogger(__name__)

#: Standardised values are clipped to +-Z_CLIP before the inverse transform (and counted).
Z_CLIP = 10.0


def to_physical(
    arrays: dict[str, np.ndarray], layout: Any, scaler: FeatureScaler, process_id: str, seed: int
) -> tuple[EventTables, dict[str, int]]:
    """Decoder outputs -> GeV tables, with counts of corrected values."""
    return standardised_to_physical(*layout.from_arrays(arrays), scaler, process_id, seed)


def standardised_to_physical(
    events_std: pd.DataFrame, objects_std: pd.DataFrame, scaler: FeatureScaler, process_id: str, seed: int
) -> tuple[EventTables, dict[str, int]]:
    """Standardised (events, objects) -> GeV tables: values beyond +-10 standard deviations clipped
    (10**x of a wild log-energy would overflow), phi wrapped and E >= pT enforced, each counted.

    A wrap is counted when a decoded angle lies outside [-pi, pi] in the representation's frame;
    in the MET frame the events are then turned by a uniform angle drawn from ``seed``
    (:meth:`FeatureScaler.from_frame`)."""
    features = ["e", "pt", "eta", "phi"]
    z_obj = objects_std[features].to_numpy(np.float64)
    z_ev = events_std[["met", "met_phi"]].to_numpy(np.float64)
    clipped = int((~(np.abs(z_obj) <= Z_CLIP)).sum() + (~(np.abs(z_ev) <= Z_CLIP)).sum())
    objects_std = objects_std.assign(
        **{f: np.clip(np.nan_to_num(z_obj[:, k]), -Z_CLIP, Z_CLIP) for k, f in enumerate(features)}
    )
    events_std = events_std.assign(
        met=np.clip(np.nan_to_num(z_ev[:, 0]), -Z_CLIP, Z_CLIP),
        met_phi=np.clip(np.nan_to_num(z_ev[:, 1]), -Z_CLIP, Z_CLIP),
    )
    events = scaler.inverse_events(events_std, wrap=False)
    objects = scaler.inverse_objects(objects_std, wrap=False)
    counts = {
        "clipped_beyond_10_sigma": clipped,
        "phi_wrapped": int((np.abs(objects["phi"]) > np.pi).sum()),
        "met_phi_wrapped": int((np.abs(events["met_phi"]) > np.pi).sum()),
        "e_raised_to_pt": int((objects["e"] < objects["pt"]).sum()),
    }
    n = len(events)
    # A wrapped angle is the same direction (phi is periodic), so it is counted above but does not
    # make an event invalid before corrections; clipped values and E < pT do.
    corrected_object = ~(np.abs(z_obj) <= Z_CLIP).all(axis=1) | (objects["e"].to_numpy() < objects["pt"].to_numpy())
    corrected_event = ~(np.abs(z_ev) <= Z_CLIP).all(axis=1)
    objects["phi"] = wrap_phi(objects["phi"].to_numpy()).astype(np.float32)
    events["met_phi"] = wrap_phi(events["met_phi"].to_numpy())
    events, objects = scaler.from_frame(events, objects, seed)
    objects["e"] = np.maximum(objects["e"].to_numpy(), objects["pt"].to_numpy())
    # values corrected in each event: an event with any is invalid before corrections (issue #11)
    events["n_corrected"] = (
        np.bincount(objects_std["event_index"].to_numpy()[corrected_object], minlength=n) + corrected_event
    ).astype(np.int16)
    events.insert(0, "event_id", np.arange(n, dtype=np.int64))
    events.insert(1, "process_id", process_id)
    events.insert(2, "weight", 1.0)
    return EventTables(events, objects), counts


def generate(
    decoder: keras.Model,
    z: np.ndarray,
    layout: Any,
    scaler: FeatureScaler,
    process_id: str,
    seed: int,
    batch_size: int = 65536,
    sigma: dict[str, list] | None = None,
    offset: dict[str, Offset] | None = None,
) -> tuple[EventTables, dict[str, int]]:
    """Decode latent points ``z`` in large batches and return physical events. ``sigma`` and
    ``offset``: sample the Gaussian decoder around its corrected means
    (:func:`lhc_vae.models.vae.add_likelihood_noise`); ``seed`` draws that noise and the events'
    azimuthal turn in the MET frame."""
    outputs = add_likelihood_noise(decode(decoder, z, batch_size), sigma, likelihood_generator(seed), offset)
    return to_physical(outputs, layout, scaler, process_id, seed)


def generated_primary(tables: EventTables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generated events in the preprocessing's table form, with the §3.1 selection flags."""
    selection = evaluate_selection(tables.objects, tables.n_events)
    events, objects = primary_tables(tables)
    return pd.concat([events, selection], axis=1), objects


def generated_tables(tables: EventTables) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """:func:`generated_primary`, and its counts (:func:`quality_counts`) as rates
    (:func:`quality_rates`)."""
    events, objects = generated_primary(tables)
    return events, objects, quality_rates(quality_counts(events))


def quality_counts(events: pd.DataFrame) -> dict[str, int]:
    """Events, invalid events (thesis eq. 6.6: failing the §3.1 selection after the corrections),
    invalid events before the corrections (failing it, or with a corrected value:
    ``n_corrected`` of :func:`standardised_to_physical`) and objects, of generated events with
    their selection flags. Counts add up over chunks."""
    invalid = ~events["passes_selection"].to_numpy()
    return {
        "events": len(events),
        "invalid": int(invalid.sum()),
        "invalid_raw": int((invalid | (events["n_corrected"].to_numpy() > 0)).sum()),
        "objects": int(events["n_objects"].sum()),
    }


def quality_rates(counts: dict[str, int]) -> dict[str, float]:
    """The invalid event rate (percent) after and before the corrections, and the mean multiplicity."""
    n = counts["events"]
    return {
        "invalid_event_rate_percent": 100.0 * counts["invalid"] / n,
        "invalid_event_rate_raw_percent": 100.0 * counts["invalid_raw"] / n,
        "mean_objects_per_event": counts["objects"] / n,
    }


#: Where each experiment's timed chain starts (a prior kind of a single-model experiment, or a
#: multi-model experiment); every chain ends with physical events in GeV. Truth events enter as
#: standardised model-input arrays: the preprocessing of the truth is not timed.
START_POINTS = {
    "normal": "noise: z ~ N(0, 1) -> decoder -> GeV",
    "bgmm": "noise: z ~ BGMM (fitted on training encodings) -> decoder -> GeV",
    "truth": "truth event (validation split, model-input arrays) -> encoder -> z_mean + N(0, alpha) -> decoder -> GeV",
    "exp1": "truth event (validation split) -> event encoder -> + N(0, alpha) -> event decoder (MET, mask) -> "
    "per type: truth object + generated MET -> encoder -> + N(0, alpha) -> decoder -> GeV",
    "exp2": "noise: masks from the two-level statistical generator, z ~ N(0, 1) -> MET and per-type decoders -> GeV",
}


def truth_latent(
    encoder: keras.Model, truth_inputs: dict[str, np.ndarray], n: int, alpha: float, seed: int, batch_size: int = 65536
) -> np.ndarray:
    """The alpha-VAE start point: n truth events drawn from ``truth_inputs`` (model-input arrays,
    rows as :func:`lhc_vae.models.priors.perturb_truth`), encoded now, plus N(0, alpha) noise.

    Same numbers as ``perturb_truth(encode(encoder, truth_inputs)["z_mean"], n, alpha, seed)[0]``,
    but the encoder runs on the n drawn events inside the caller's timing."""
    rng = np.random.default_rng(seed)
    rows = priors.truth_rows(len(next(iter(truth_inputs.values()))), n, rng)
    z = encode(encoder, {k: v[rows] for k, v in truth_inputs.items()}, batch_size)["z_mean"]
    return priors.alpha_perturbation(z, alpha, rng)


def _latent_start(
    prior: dict[str, Any], n: int, alpha: float, seed: int, encoder: keras.Model | None = None, batch_size: int = 65536
) -> np.ndarray:
    """n latent points from a single-model prior (``normal``, ``bgmm`` or ``truth``, see
    :func:`lhc_vae.pipelines.vae.nodes.fit_latent_prior`); ``truth`` encodes its events here. A
    prior of noise with a ``scale`` (a refined run's broader proposal) has every spread multiplied
    by it: N(0, scale^2), and each BGMM component's covariance times scale^2 about its mean."""
    scale = float(prior.get("scale", 1.0))
    if prior["kind"] == "normal":
        return scale * priors.sample_normal(n, prior["latent_dim"], seed)
    if prior["kind"] == "bgmm":  # the BGMM in the dimensions in use, N(0, 1) in the others
        z = scale * priors.sample_normal(n, prior["latent_dim"], seed + 1)
        mixture = {**prior["mixture"], "covariances": prior["mixture"]["covariances"] * scale**2}
        z[:, prior["active_dims"]] = priors.sample_bgmm(mixture, n, seed)
        return z
    if prior["kind"] == "truth":  # single_model_run checked the encoder and the arrays
        return truth_latent(encoder, prior["inputs"], n, float(alpha), seed, batch_size)
    raise ValueError(f"unknown latent prior {prior['kind']!r}")


Run = Callable[[int, int], tuple[EventTables, dict[str, int]]]


def single_model_run(
    layout: Any,
    decoder: keras.Model,
    prior: dict[str, Any],
    scaler: FeatureScaler,
    process: str,
    alpha: float = 0.0,
    encoder: keras.Model | None = None,
    batch_size: int = 65536,
) -> Run:
    """``run(count, seed)`` of a single-model experiment (baseline, exp III): its start point
    (:data:`START_POINTS` of the prior kind) -> decoder (sampled around its means with the
    prior's ``likelihood_sigma`` and ``likelihood_offset``, when it has them) -> GeV tables and
    correction counts."""
    if prior["kind"] == "truth" and (encoder is None or "inputs" not in prior):
        raise ValueError(
            "the truth prior starts from truth events: pass the encoder and the prior's model-input arrays"
        )

    def run(count: int, seed: int) -> tuple[EventTables, dict[str, int]]:
        z = _latent_start(prior, count, alpha, seed, encoder, batch_size)
        return generate(
            decoder,
            z,
            layout,
            scaler,
            process,
            seed,
            batch_size,
            prior.get("likelihood_sigma"),
            prior.get("likelihood_offset"),
        )

    return run


def multi_model_run(
    experiment: str,
    models: dict[str, dict],
    scaler: FeatureScaler,
    process: str,
    *,
    truth: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    alpha: float = 0.0,
    threshold: float = 0.1,
    mask_generator: dict[str, Any] | None = None,
    latent_dim: int | None = None,
    likelihood: dict[str, dict[str, Any]] | None = None,
) -> Run:
    """``run(count, seed)`` of experiment I (``truth``: validation (events, objects) in model-input
    form, encoded inside the run) or II (``mask_generator`` and the MET model's ``latent_dim``).
    ``likelihood`` (per component: ``{"offset", "sigma"}`` per continuous output,
    :func:`lhc_vae.models.vae.decoder_likelihood`): every decoder call samples the Gaussian decoder
    around its corrected means (:func:`lhc_vae.models.vae.add_likelihood_noise`)."""

    def sampling_decode(seed: int) -> Callable:
        rng = likelihood_generator(seed)
        # each decoder's likelihood, found by the decoder object itself: built here, at the call, so
        # that it names the objects of this copy of the run (a run sent to a Dask worker is a new copy)
        by_decoder = {id(models[name]["decoder"]): s for name, s in (likelihood or {}).items() if name in models}

        def decode_and_sample(decoder: keras.Model, z: np.ndarray, batch_size: int = 65536) -> dict[str, np.ndarray]:
            own = by_decoder.get(id(decoder), {})
            return add_likelihood_noise(decode(decoder, z, batch_size), own.get("sigma"), rng, own.get("offset"))

        return decode_and_sample

    if experiment == "exp1":
        if truth is None:
            raise ValueError("exp1 starts from truth events: pass the validation tables")
        width = multi.mask_width_of(models)

        def run(count: int, seed: int) -> tuple[EventTables, dict[str, int]]:
            ev, obj, _ = multi.generate_exp1(
                models, *truth, count, float(alpha), float(threshold), seed, encode, sampling_decode(seed), width
            )
            return standardised_to_physical(ev, obj, scaler, process, seed)

        return run
    if experiment == "exp2":
        if mask_generator is None or latent_dim is None:
            raise ValueError("exp2 generates from noise: pass the mask generator and the MET model's latent size")
        masks = TwoLevelMaskGenerator.from_dict(mask_generator)

        def run(count: int, seed: int) -> tuple[EventTables, dict[str, int]]:
            ev, obj = multi.generate_exp2(
                models, masks.sample(count, seed), int(latent_dim), seed, sampling_decode(seed)
            )
            return standardised_to_physical(ev, obj, scaler, process, seed)

        return run
    raise KeyError(f"unknown multi-model experiment {experiment!r}; known: exp1, exp2")


def time_per_event(run: Any, seed: int) -> dict[str, float]:
    """Thesis eq. 6.7 for ``run(count, seed)``: T_1K / 1000 after a warm-up call (graph tracing,
    reported apart), the full chain from the start point to GeV."""
    t0 = time.perf_counter()
    run(1000, seed + 1)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    run(1000, seed + 2)
    return {"ms_per_event_t1k": 1e3 * (time.perf_counter() - t0) / 1000, "warmup_seconds": warmup}


def timed(run: Any, n: int, seed: int) -> tuple[Any, dict[str, float]]:
    """Run ``run(count, seed)`` for n events and time it: eq. 6.7 (:func:`time_per_event`) and the
    steady state of the n-event call.

    The benchmark's timing of the runs of :func:`single_model_run` / :func:`multi_model_run`; the
    generation nodes time the same runs chunk by chunk (:func:`run_generation`)."""
    timing = time_per_event(run, seed)
    t0 = time.perf_counter()
    result = run(n, seed)
    t_all = time.perf_counter() - t0
    return result, {**timing, "ms_per_event_steady": 1e3 * t_all / n, "events_per_second_steady": n / t_all}


def chunk_seed(seed: int, chunk: int) -> int:
    """Seed of generation chunk ``chunk``: the run's own seed for the first (a run of one chunk is
    the unchunked run), then one derived from (seed, chunk)."""
    if chunk == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1)[0] % (2**31 - 1))


def chunk_bounds(n: int, chunk_events: int | None) -> list[tuple[int, int, int]]:
    """``(k, first event, events)`` of the chunks of an n-event run (one chunk when ``chunk_events``
    is None)."""
    if n <= 0:
        raise ValueError(f"n_generate must be positive, got {n}")
    per_chunk = int(chunk_events) if chunk_events else n
    if per_chunk <= 0:
        raise ValueError(f"generation.chunk_events must be positive, got {chunk_events}")
    return [(k, start, min(per_chunk, n - start)) for k, start in enumerate(range(0, n, per_chunk))]


def timed_call(run: Run, count: int, seed: int) -> tuple[EventTables, dict[str, int], float]:
    """``run(count, seed)`` and its seconds: the task a generation chunk is, here or on a worker."""
    t0 = time.perf_counter()
    tables, corrections = run(count, seed)
    return tables, corrections, time.perf_counter() - t0


class GenerationWorker(WorkerPlugin):
    """Set up every worker of a generation cluster, also one that joins or restarts later: the
    project's Keras layers and losses registered before a model is unpickled there, and TensorFlow
    limited to the worker's threads (a worker process per core must not run ops on every core)."""

    def setup(self, worker: Any) -> None:
        import tensorflow as tf

        import lhc_vae.models.losses
        import lhc_vae.models.variators  # noqa: F401

        with contextlib.suppress(RuntimeError):  # TensorFlow already initialised in this process
            tf.config.threading.set_intra_op_parallelism_threads(int(worker.state.nthreads))
            tf.config.threading.set_inter_op_parallelism_threads(1)


def generate_chunks(
    run: Run, bounds: list[tuple[int, int, int]], seed: int, client: Any = None, key: str = "generation"
) -> Iterator[tuple[int, EventTables, dict[str, int], float]]:
    """``(first event, tables, corrections, seconds)`` of the chunks ``bounds``
    (:func:`chunk_bounds`), in order; chunk k is ``run(count, chunk_seed(seed, k))``, so the
    events depend on the seed and the chunk size only, never on where a chunk ran (issue #14
    item 5).

    Without a ``client`` the chunks run here, one at a time. With a dask.distributed client the
    run (its models, prior and truth events) is sent once to every worker (:class:`GenerationWorker`
    prepares them) and the chunks run there, two per worker thread in flight; this process takes
    each chunk when its turn comes, so it holds the chunk being written and the next one while the
    others wait on the workers."""
    if client is None:
        for k, start, count in bounds:
            yield start, *timed_call(run, count, chunk_seed(seed, k))
        return
    client.register_plugin(GenerationWorker(), name="lhc-vae-generation")
    remote = client.scatter(run, broadcast=True, hash=False)
    pending = iter(bounds)
    running: collections.deque = collections.deque()

    def submit() -> None:
        item = next(pending, None)
        if item is not None:
            k, start, count = item
            future = client.submit(timed_call, remote, count, chunk_seed(seed, k), key=f"{key}-chunk-{k}", pure=False)
            running.append((start, future))

    for _ in range(2 * max(1, sum(client.nthreads().values()))):
        submit()
    while running:
        start, future = running.popleft()
        result = future.result()
        future.release()
        submit()
        yield start, *result


def run_generation(
    run: Run,
    n: int,
    seed: int,
    chunk_events: int | None = None,
    client: Any = None,
    **meta: Any,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, EventTables, dict[str, Any]]]:
    """Generate n events with ``run(count, seed)`` in chunks of ``chunk_events`` (all at once when
    None; :func:`chunk_bounds`), each chunk's tables as soon as it is made: primary events and
    objects (event indices and ids counted from the first event of the run), the chunk's GeV tables
    (indices within the chunk) and the run's statistics so far: ``meta``, timing (eq. 6.7),
    corrections and IER (eq. 6.6), which add up over the chunks.

    Eq. 6.7 is timed here, in this process (:func:`time_per_event`). ``ms_per_event_steady`` is the
    chunks' generation time per event: in this process, or summed over the workers' chunks on a
    cluster (``steady_time`` says which); ``wall_seconds`` runs from the first chunk asked for to
    the last one made, the writing of every chunk but the last included."""
    bounds = chunk_bounds(n, chunk_events)
    timing = time_per_event(run, seed)
    key = f"generation-{meta.get('experiment', 'run')}-{uuid.uuid4().hex[:8]}"
    totals = {"events": 0, "invalid": 0, "invalid_raw": 0, "objects": 0}
    seconds_total = 0.0
    corrections: dict[str, int] = {}
    t0 = time.perf_counter()
    for start, tables, counts, seconds in generate_chunks(run, bounds, seed, client, key):
        tables.events["event_id"] += start
        events, objects = generated_primary(tables)
        events["event_index"] += start
        objects = objects.assign(event_index=objects["event_index"].to_numpy() + start)
        totals = {k: totals[k] + v for k, v in quality_counts(events).items()}
        seconds_total += seconds
        corrections = {k: corrections.get(k, 0) + v for k, v in counts.items()}
        wall = time.perf_counter() - t0
        stats = {
            **meta,
            "n_generated": n,
            "seed": seed,
            "chunk_events": bounds[0][2],
            "n_chunks": len(bounds),
            "workers": "this process" if client is None else sum(client.nthreads().values()),
            **timing,
            "ms_per_event_steady": 1e3 * seconds_total / totals["events"],
            "events_per_second_steady": totals["events"] / seconds_total,
            "steady_time": "this process" if client is None else "summed over the workers' chunks",
            "wall_seconds": wall,
            "events_per_second_wall": totals["events"] / wall,
            "corrections": corrections,
            **quality_rates(totals),
            # VmHWM of this process so far (training included when it ran in the same process)
            "peak_rss_mb": peak_rss_mb(),
        }
        if client is not None and totals["events"] == n:
            stats["worker_peak_rss_mb"] = sorted(client.run(peak_rss_mb).values())
        yield events, objects, tables, stats
    log.info(
        "%s: %d events at %.4f ms/event (steady), IER %.2f %%",
        meta.get("experiment", "generation"),
        n,
        stats["ms_per_event_steady"],
        stats["invalid_event_rate_percent"],
    )


def generate_in_pieces(
    run: Run, n: int, seed: int, settings: dict[str, Any], **meta: Any
) -> Iterator[tuple[Chunk, Chunk, Chunk, Chunk]]:
    """:func:`run_generation` in the chunks and on the cluster of ``settings`` (the parameters'
    ``generation``: ``chunk_events``, ``n_workers``, ``scheduler``; no cluster when neither of the
    last two is set), as the pieces of a generator node's four outputs (:func:`lhc_vae.io.chunked`)."""
    count = len(chunk_bounds(n, settings.get("chunk_events")))
    with optional_dask_client(settings) as client:
        yield from chunked(run_generation(run, n, seed, settings.get("chunk_events"), client, **meta), count)
