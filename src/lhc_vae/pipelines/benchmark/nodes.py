"""Nodes of the ``benchmark`` pipeline (issues #7, #11): everything timed in one run on one machine.

* the Monte Carlo chain: one fresh Pythia8 + FastJet + detector block of ``mc_block_size`` tried
  events on one core, with Pythia8's initialisation timed apart so the per-event figure amortises
  it (as a long production run does); the figure of the project's own MC sample
  (``mc_stats.json``) beside it when that sample exists;
* the preprocessing's parse stage on the process's raw file;
* the generation of the runs the pipeline names (their catalog datasets: the default pipeline's
  runs, or one experiment's run at the global alpha/beta) with the one time-per-event definition of the project
  (:func:`lhc_vae.models.generation.timed` on the runs of ``single_model_run`` /
  ``multi_model_run``: from the experiment's own start point, noise or truth events through the
  encoder, to physical events in GeV), at the thesis's 1k batch (eq. 6.7) and in the steady
  state, on all cores and on one core (a child process pinned to one CPU, TensorFlow with one
  thread), so each speed-up compares MC and model on the same cores;
* a float32 matmul peak (median of several measurements, with min and max) on all cores and on
  one core, against which each model's FLOPs per event give a share of the roofline.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.benchmarks.scaling import measure_scaling
from lhc_vae.cluster import available_cores
from lhc_vae.datasets import DarkMachinesFile, DarkMachinesFolder
from lhc_vae.evaluation.plots import speed_bars
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.split import split_tables
from lhc_vae.mc.simulation import simulate_block
from lhc_vae.models.experiments import EXPERIMENTS
from lhc_vae.models.generation import START_POINTS, multi_model_run, single_model_run, timed
from lhc_vae.models.multi import models_in_use
from lhc_vae.tags import run_tag

log = logging.getLogger(__name__)

#: Timing keys of :func:`timed` kept for the one-core measurement of a model.
TIMING_KEYS = ("ms_per_event_t1k", "ms_per_event_steady", "events_per_second_steady", "warmup_seconds")
#: Environment of the one-core child process (read when TensorFlow starts its thread pools).
ONE_CORE_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def dense_flops(model: Any) -> float:
    """Multiply-add FLOPs of one forward pass of one row: 2 x inputs x units per Dense layer."""
    import keras

    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def matmul_peak(size: int = 2048, repeats: int = 7) -> dict[str, Any]:
    """float32 matmul throughput of TensorFlow in this process, GFLOP/s: ``repeats`` (>= 5) timed
    products after a warm-up; the median is the peak used for roofline shares, min and max its spread."""
    import tensorflow as tf

    if repeats < 5:
        raise ValueError(f"matmul_peak needs at least 5 measurements for a median and a spread, got {repeats}")
    a = tf.random.normal((size, size), seed=1)
    b = tf.random.normal((size, size), seed=2)
    tf.linalg.matmul(a, b).numpy()  # warm-up
    values = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        values.append(2.0 * size**3 / (time.perf_counter() - t0) / 1e9)
    return matmul_stats(values, size)


def matmul_stats(values: list[float], size: int) -> dict[str, Any]:
    """Median, min and max of matmul measurements (GFLOP/s)."""
    return {
        "median_gflops": float(np.median(values)),
        "min_gflops": float(np.min(values)),
        "max_gflops": float(np.max(values)),
        "n": len(values),
        "size": size,
        "values_gflops": [float(v) for v in values],
    }


def _sample_figure(sample_stats: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the process's own MC sample (``mc_stats.json`` of ``make run`` / ``kedro run --pipeline=mc``) cost."""
    if not sample_stats or "ms_per_accepted_event_per_core" not in sample_stats:
        return None
    return {
        "ms_per_event_per_core": sample_stats["ms_per_accepted_event_per_core"],
        "ms_per_event_per_core_after_init": sample_stats.get("ms_per_accepted_event_per_core_after_init"),
        "init_seconds_per_block": sample_stats.get("init_seconds_per_block"),
        "events_accepted": sample_stats.get("events_accepted"),
        "block_size": sample_stats.get("block_size"),
        "n_blocks": sample_stats.get("n_blocks"),
        "n_workers": sample_stats.get("n_workers"),
        "note": "the whole MC sample: CPU seconds of every block (Pythia8's initialisation of each block "
        "of block_size tried events included) per accepted event",
    }


def benchmark_mc(
    process: str, seed: int, mc: dict[str, Any], params: dict[str, Any], sample_stats: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A fresh run of the Monte Carlo chain on one core: ``mc_blocks`` block(s) of ``mc_block_size``
    tried events, each one Pythia8 instance whose initialisation is timed apart.

    ``ms_per_event_per_core`` (the figure of the speed-ups) is the block time without Pythia8's
    initialisation per accepted event: the cost of an event in a long run, where one instance
    makes many events, as the models' figures leave out their warm-up. The figure with the
    initialisation and the initialisation itself are reported beside it, and so is the project's
    own MC sample (``sample_stats``, the ``mc_stats`` dataset) when it exists."""
    settings = list(mc["processes"][process]["settings"])
    block_size, n_blocks = int(params["mc_block_size"]), int(params.get("mc_blocks", 1))
    if block_size <= 0 or n_blocks <= 0:
        raise ValueError("benchmark.mc_block_size and benchmark.mc_blocks must be positive")
    results = [
        simulate_block((b, block_size, process, settings, mc["detector"], int(seed) + 1000)) for b in range(n_blocks)
    ]
    accepted = sum(len(r.events) for r in results)
    tried = sum(r.n_tried for r in results)
    if accepted == 0:
        raise RuntimeError(f"{process}: no accepted event in {tried} tried; raise benchmark.mc_block_size")
    seconds = sum(r.seconds for r in results)
    init = sum(r.init_seconds for r in results)
    per_core = 1e3 * (seconds - init) / accepted
    cores = available_cores()
    return {
        "events": accepted,
        "events_tried": tried,
        "acceptance": accepted / tried,
        "block_size": block_size,
        "n_blocks": n_blocks,
        "seconds": seconds,
        "init_seconds_per_block": init / n_blocks,
        "ms_per_event_per_core": per_core,
        "ms_per_event_per_core_with_init": 1e3 * seconds / accepted,
        "cores": cores,
        "ms_per_event_all_cores": per_core / cores,
        "sample": _sample_figure(sample_stats),
        "note": "ms_per_event_per_core: one core, Pythia8's initialisation (init_seconds_per_block, once per "
        "instance) left out, i.e. amortised over a long run; ms_per_event_all_cores = ms_per_event_per_core / "
        "cores (independent blocks, one per core, scale linearly); with_init: this run's blocks as they are",
    }


def benchmark_preprocessing(raw: DarkMachinesFile) -> dict[str, Any]:
    """Parse speed of the raw file (events/s on one core)."""
    t0 = time.perf_counter()
    n = sum(len(chunk.events) for chunk in raw.chunks())
    seconds = time.perf_counter() - t0
    return {"events": n, "seconds": seconds, "events_per_second": n / seconds}


def benchmark_scaling(
    raw: DarkMachinesFile | DarkMachinesFolder, process: str, seed: int, mc: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Issue #14 item 6: the MC chain and the parsing of a folder of raw files on a LocalCluster of
    each of ``benchmark.scaling.workers`` (:func:`lhc_vae.benchmarks.scaling.measure_scaling`)."""
    if not isinstance(raw, DarkMachinesFile | DarkMachinesFolder):
        raise TypeError(f"the scaling benchmark parses Dark Machines text; raw_events is a {type(raw).__name__}")
    sources = list(raw.files) if isinstance(raw, DarkMachinesFolder) else [raw.path]
    return measure_scaling(sources, process, mc["processes"][process]["settings"], mc, int(seed), params["scaling"])


def _spec(training: dict[str, Any], models: tuple, suffix: str = "") -> dict[str, Any]:
    """A timing spec named after the run (``exp3/beta_0p5``) from its training record; the alpha of
    an alpha-VAE is its truth perturbation noise at generation too."""
    experiment, variator = training["experiment"], training["variator"]
    value = training[variator]
    return {
        "name": f"{experiment}/{run_tag(variator, value)}{suffix}",
        "experiment": experiment,
        "alpha": float(value) if variator == "alpha" else 0.0,
        "models": models,
    }


def single_model(encoder: Any, decoder: Any, prior: dict[str, Any], training: dict[str, Any]) -> dict[str, Any]:
    """A single-model run's trained models and fitted prior (its catalog datasets), for timing."""
    suffix = "/bgmm" if prior["kind"] == "bgmm" else ""
    return _spec(training, (encoder, decoder, prior), suffix)


def multi_model(
    mask_generator: dict[str, Any] | None, training: dict[str, Any], *components: dict[str, Any]
) -> dict[str, Any]:
    """A multi-model run's trained components (and exp II's mask generator), for timing."""
    return _spec(training, (models_in_use(components), mask_generator))


def _model_run(
    spec: dict[str, Any],
    scaler: FeatureScaler,
    model_events: pd.DataFrame,
    model_objects: pd.DataFrame,
    process: str,
    mask_threshold: float,
) -> tuple[Callable, str, Callable[[float], float]]:
    """The generation run of a trained model (:func:`single_model`, :func:`multi_model`), built by
    the same functions as the generation nodes, its start point and its FLOPs per event as a
    function of the mean number of objects per event."""
    experiment, alpha = spec["experiment"], spec["alpha"]
    if experiment in EXPERIMENTS:
        encoder, decoder, prior = spec["models"]
        run = single_model_run(EXPERIMENTS[experiment].layout, decoder, prior, scaler, process, alpha, encoder)
        flops = dense_flops(decoder) + (dense_flops(encoder) if prior["kind"] == "truth" else 0.0)
        return run, START_POINTS[prior["kind"]], lambda _objects_per_event: flops
    comps, generator = spec["models"]
    if experiment == "exp2":
        dim = int(comps["met"]["decoder"].input.shape[-1])
        run = multi_model_run("exp2", comps, scaler, process, mask_generator=generator, latent_dim=dim)
        per_object = [dense_flops(c["decoder"]) for k, c in comps.items() if k != "met"]
        event_flops = dense_flops(comps["met"]["decoder"])
    else:
        truth = split_tables(model_events, model_objects, "validation")
        run = multi_model_run("exp1", comps, scaler, process, truth=truth, alpha=alpha, threshold=mask_threshold)
        per_object = [dense_flops(c["encoder"]) + dense_flops(c["decoder"]) for k, c in comps.items() if k != "event"]
        event_flops = dense_flops(comps["event"]["encoder"]) + dense_flops(comps["event"]["decoder"])
    mean_object = float(np.mean(per_object))
    # the event model plus the mean number of objects times a particle model
    return run, START_POINTS[experiment], lambda objects_per_event: event_flops + objects_per_event * mean_object


def time_models(
    specs: list[dict[str, Any]],
    scaler: dict[str, Any],
    model_events: pd.DataFrame,
    model_objects: pd.DataFrame,
    process: str,
    n_large: int,
    mask_threshold: float,
    matmul_repeats: int,
) -> dict[str, Any]:
    """Time every trained model of ``specs`` (:func:`timed`) and the matmul peak, with whatever
    cores this process has: ``{"models": {name: timing}, "matmul": stats}``."""
    fs = FeatureScaler.from_dict(scaler)
    results: dict[str, Any] = {}
    for spec in specs:
        run, start_point, flops = _model_run(spec, fs, model_events, model_objects, process, mask_threshold)
        tables, timing = timed(lambda n, s, run=run: run(n, s)[0], n_large, seed=1)
        objects_per_event = len(tables.objects) / n_large
        results[spec["name"]] = {
            **timing,
            "n_large": n_large,
            "objects_per_event": objects_per_event,
            "flops_per_event": flops(objects_per_event),
            "start_point": start_point,
        }
        log.info(
            "benchmark %s (%d cores): %.4f ms/event (1k), %.4f ms/event (%d)",
            spec["name"],
            available_cores(),
            timing["ms_per_event_t1k"],
            timing["ms_per_event_steady"],
            n_large,
        )
    return {"models": results, "matmul": matmul_peak(repeats=matmul_repeats)}


def _pinned(cpu: int, func: Callable, args: tuple) -> tuple[Any, dict[str, Any]]:
    """In the child: pin to ``cpu``, TensorFlow to one thread, then ``func(*args)``."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started: ONE_CORE_ENV set its pools to one thread
        pass
    out = func(*args)
    return out, {
        "cpu": cpu,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def on_one_core(func: Callable, *args: Any) -> tuple[Any, dict[str, Any]]:
    """``func(*args)`` in a fresh ('spawn') child process pinned to one CPU, with TensorFlow's thread
    pools at one thread (they cannot be resized once started, hence the child); returns its result
    and what the child ran on. ``func`` must be importable (a module-level function)."""
    cpu = min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    saved = {k: os.environ.get(k) for k in ONE_CORE_ENV}
    os.environ.update(ONE_CORE_ENV)
    try:
        pool = mp.get_context("spawn").Pool(1)  # the worker starts here and inherits ONE_CORE_ENV
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        return pool.apply(_pinned, (cpu, func, args))
    finally:
        pool.terminate()
        pool.join()


def benchmark_models(
    scaler: dict[str, Any],
    model_events: pd.DataFrame,
    model_objects: pd.DataFrame,
    process: str,
    params: dict[str, Any],
    exp1: dict[str, Any],
    *specs: dict[str, Any],
) -> dict[str, Any]:
    """Generation speed and FLOPs of the trained models of ``specs`` (:func:`single_model`,
    :func:`multi_model`), on all cores (this process) and on one core (:func:`on_one_core`, the
    models passed to the child process), with the matmul peak of each setting."""
    args = (
        list(specs),
        scaler,
        model_events,
        model_objects,
        process,
        int(params["large_batch"]),
        float(exp1["mask_threshold"]),
        int(params.get("matmul_repeats", 7)),
    )
    all_cores = time_models(*args)
    models = all_cores["models"]
    one_core, child = (None, None)
    if models and params.get("one_core", True):
        one_core, child = on_one_core(time_models, *args)
        for name, v in models.items():
            v["one_core"] = {k: one_core["models"][name][k] for k in TIMING_KEYS}
    return {
        "cores": available_cores(),
        "models": models,
        "matmul": {"all_cores": all_cores["matmul"], "one_core": one_core["matmul"] if one_core else None},
        "one_core_process": child,
    }


def summarise_benchmark(
    mc: dict[str, Any], preprocessing: dict[str, Any], timings: dict[str, Any], process: str
) -> tuple[dict[str, Any], Any]:
    """Speed-ups against the MC chain on the same cores and % of the matmul roofline; JSON and a
    log-scale bar chart."""
    models = timings["models"]
    peak = timings["matmul"]["all_cores"]["median_gflops"]
    one_core_matmul = timings["matmul"].get("one_core")
    for v in models.values():
        v["speedup_all_cores"] = mc["ms_per_event_all_cores"] / v["ms_per_event_steady"]
        v["speedup_t1k_all_cores"] = mc["ms_per_event_all_cores"] / v["ms_per_event_t1k"]
        v["achieved_gflops"] = v["flops_per_event"] / (v["ms_per_event_steady"] / 1e3) / 1e9
        v["roofline_percent"] = 100.0 * v["achieved_gflops"] / peak
        one = v.get("one_core")
        if one:
            v["speedup_1core"] = mc["ms_per_event_per_core"] / one["ms_per_event_steady"]
            v["speedup_t1k_1core"] = mc["ms_per_event_per_core"] / one["ms_per_event_t1k"]
            one["achieved_gflops"] = v["flops_per_event"] / (one["ms_per_event_steady"] / 1e3) / 1e9
            if one_core_matmul:
                one["roofline_percent"] = 100.0 * one["achieved_gflops"] / one_core_matmul["median_gflops"]
    cores = timings["cores"]
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "process": process,
        "cores": cores,
        "matmul_gflops": peak,  # median on all cores, the roofline of roofline_percent
        "matmul": timings["matmul"],
        "mc": mc,
        "preprocessing": preprocessing,
        "models": models,
        "one_core_process": timings.get("one_core_process"),
        "note": (
            "Time per event (thesis eq. 6.7) of every model: from its start point (start_point: noise for "
            "beta-VAEs, the truth event through the encoder for alpha-VAEs) to physical events in GeV; "
            "ms_per_event_t1k = T_1K/1000 after a warm-up call, ms_per_event_steady = one call of n_large "
            f"events. Model figures at the top level are on all {cores} cores of this process; one_core "
            "holds them in a child process pinned to one CPU with TensorFlow at one thread. "
            "speedup_1core = mc.ms_per_event_per_core / one_core.ms_per_event_steady (MC and model on one "
            "core); speedup_all_cores = mc.ms_per_event_all_cores / ms_per_event_steady (both on all cores; "
            "the MC figure is its one-core figure / cores, independent blocks scaling linearly); the _t1k "
            "variants use ms_per_event_t1k. The MC figure leaves out Pythia8's initialisation "
            "(mc.init_seconds_per_block), as the model figures leave out their warm-up; mc.sample is the "
            "project's own MC sample, initialisation of every block included. roofline_percent: achieved "
            "GFLOP/s / median matmul GFLOP/s of the same setting (matmul: median, min, max of n runs)."
        ),
    }
    speeds = {
        "MC (Pythia8 + detector), 1 core": mc["ms_per_event_per_core"],
        f"MC, {cores} cores": mc["ms_per_event_all_cores"],
    }
    if mc.get("sample"):
        speeds["MC sample (mc_stats.json), 1 core"] = mc["sample"]["ms_per_event_per_core"]
    for k, v in models.items():
        if v.get("one_core"):
            speeds[f"{k}, 1 core"] = v["one_core"]["ms_per_event_steady"]
        speeds[f"{k}, {cores} cores"] = v["ms_per_event_steady"]
    return summary, speed_bars(speeds, f"{process}: time per generated event (steady state)")
