"""Nodes of the ``benchmark`` pipeline (issue #7): everything timed in one run on one machine.

* the Monte Carlo chain (a fresh small ``mc`` run on one core: Pythia8 + FastJet + detector);
* the preprocessing's parse stage on the process's raw file;
* every trained model's generation, full chain (latent sampling, decoders, inverse transform),
  at the thesis's 1k batch (eq. 6.7) and at a large batch;
* a float32 matmul peak measured in the same run, against which each decoder's FLOPs per event
  give a percentage of the roofline.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.datasets import ComponentDataset, DarkMachinesFile, KerasModelDataset
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.split import split_tables
from lhc_vae.evaluation.plots import speed_bars
from lhc_vae.mc.simulation import generate as generate_mc
from lhc_vae.models import multi, priors
from lhc_vae.models.experiments import EXPERIMENTS
from lhc_vae.models.generation import generate, standardised_to_physical, timed
from lhc_vae.models.mask_generator import TwoLevelMaskGenerator
from lhc_vae.models.vae import decode, encode

log = logging.getLogger(__name__)


def dense_flops(model: Any) -> float:
    """Multiply-add FLOPs of one forward pass of one row: 2 x inputs x units per Dense layer."""
    import keras

    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """float32 matmul throughput of TensorFlow on this machine, GFLOP/s (best of ``repeats``)."""
    import tensorflow as tf

    a = tf.random.normal((size, size), seed=1)
    b = tf.random.normal((size, size), seed=2)
    tf.linalg.matmul(a, b).numpy()  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def benchmark_mc(process: str, seed: int, mc: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A fresh small run of the Monte Carlo chain on one core."""
    _, stats = generate_mc(
        n_events=int(params["mc_events"]),
        process_id=process,
        settings=list(mc["processes"][process]["settings"]),
        detector_cfg=mc["detector"],
        seed=int(seed) + 1000,
        n_workers=1,
        block_size=int(params["mc_block_size"]),
        progress=False,
    )
    return {
        "events": stats["events_accepted"],
        "ms_per_event_per_core": stats["ms_per_accepted_event_per_core"],
        "ms_per_event_all_cores": stats["ms_per_accepted_event_per_core"] / (os.cpu_count() or 1),
        "acceptance": stats["acceptance"],
    }


def benchmark_preprocessing(raw: DarkMachinesFile) -> dict[str, Any]:
    """Parse speed of the raw file (events/s on one core)."""
    t0 = time.perf_counter()
    n = sum(len(chunk.events) for chunk in raw.chunks())
    seconds = time.perf_counter() - t0
    return {"events": n, "seconds": seconds, "events_per_second": n / seconds}


def _time(run: Any, n_large: int) -> dict[str, float]:
    """Thesis eq. 6.7 and steady state (see :func:`lhc_vae.models.generation.timed`)."""
    tables, timing = timed(run, n_large, seed=1)
    return {**timing, "n_large": n_large, "objects_per_event": len(tables.objects) / n_large}


def benchmark_models(
    models_root: Path,
    scaler: dict[str, Any],
    model_events: pd.DataFrame,
    model_objects: pd.DataFrame,
    process: str,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Generation speed and FLOPs of every trained model under ``models_root``."""
    fs = FeatureScaler.from_dict(scaler)
    n_large = int(params["large_batch"])
    results: dict[str, Any] = {}
    root = Path(models_root)
    for directory in sorted(p for p in root.glob("*/*") if p.is_dir() and not p.parent.name.startswith("_")):
        experiment, tag = directory.parent.name, directory.name
        name = f"{experiment}/{tag}"
        if (directory / "decoder.keras").is_file() and experiment in EXPERIMENTS:
            exp = EXPERIMENTS[experiment]
            decoder = KerasModelDataset(str(directory / "decoder.keras")).load()
            dim = int(decoder.input.shape[-1])

            def run(n: int, s: int, decoder=decoder, exp=exp, dim=dim):
                return generate(decoder, priors.sample_normal(n, dim, s), exp.layout, fs, process)[0]

            flops = dense_flops(decoder)
            timing = _time(run, n_large)
        elif (directory / "components").is_dir() and experiment in ("exp1", "exp2"):
            comps = {p.name: ComponentDataset(str(p)).load() for p in (directory / "components").iterdir() if p.is_dir()}
            if experiment == "exp2":
                generator = TwoLevelMaskGenerator.from_dict(json.loads((directory / "mask_generator.json").read_text()))
                dim = int(comps["met"]["decoder"].input.shape[-1])

                def run(n: int, s: int, comps=comps, generator=generator, dim=dim):
                    ev, obj = multi.generate_exp2(comps, generator.sample(n, s), dim, s, decode)
                    return standardised_to_physical(ev, obj, fs, process)[0]

                per_object = {k: dense_flops(c["decoder"]) for k, c in comps.items() if k != "met"}
                event_flops = dense_flops(comps["met"]["decoder"])
            else:
                truth = split_tables(model_events, model_objects, "validation")

                def run(n: int, s: int, comps=comps, truth=truth):
                    ev, obj, _ = multi.generate_exp1(comps, *truth, n, 0.2, 0.1, s, encode, decode)
                    return standardised_to_physical(ev, obj, fs, process)[0]

                per_object = {k: dense_flops(c["encoder"]) + dense_flops(c["decoder"]) for k, c in comps.items() if k != "event"}
                event_flops = dense_flops(comps["event"]["encoder"]) + dense_flops(comps["event"]["decoder"])
            timing = _time(run, n_large)
            # FLOPs per event: the event model plus the mean number of objects times a particle model
            flops = event_flops + timing["objects_per_event"] * float(np.mean(list(per_object.values())))
        else:
            continue
        results[name] = {**timing, "flops_per_event": flops}
        log.info("benchmark %s: %.4f ms/event (1k), %.4f ms/event (%d)", name, timing["ms_per_event_t1k"], timing["ms_per_event_steady"], n_large)
    return results


def summarise_benchmark(
    mc: dict[str, Any], preprocessing: dict[str, Any], models: dict[str, Any], process: str
) -> tuple[dict[str, Any], Any]:
    """Speed-ups against the MC chain and % of the matmul roofline; JSON and a log-scale bar chart."""
    peak = matmul_peak()
    for v in models.values():
        v["speedup_vs_mc"] = mc["ms_per_event_per_core"] / v["ms_per_event_steady"]
        v["speedup_vs_mc_all_cores"] = mc["ms_per_event_all_cores"] / v["ms_per_event_steady"]
        achieved = v["flops_per_event"] / (v["ms_per_event_steady"] / 1e3) / 1e9
        v["achieved_gflops"] = achieved
        v["roofline_percent"] = 100.0 * achieved / peak
    summary = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "process": process,
        "cores": os.cpu_count(),
        "matmul_gflops": peak,
        "mc": mc,
        "preprocessing": preprocessing,
        "models": models,
        "note": "speedup_vs_mc: MC ms per event on one core / model ms per event (large batch, all cores); "
        "speedup_vs_mc_all_cores divides the MC time by the number of cores (its blocks scale linearly).",
    }
    speeds = {"MC (Pythia8 + detector, 1 core)": mc["ms_per_event_per_core"]}
    speeds.update({f"{k} (1k batch)": v["ms_per_event_t1k"] for k, v in models.items()})
    speeds.update({f"{k} (large batch)": v["ms_per_event_steady"] for k, v in models.items()})
    return summary, speed_bars(speeds, f"{process}: time per generated event")
