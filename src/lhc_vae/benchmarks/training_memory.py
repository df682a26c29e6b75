"""Training memory benchmark (issue #14 item 4): peak RSS of one training epoch against the sample size.

    python -m lhc_vae.benchmarks.training_memory --events 100000 1000000

For each size, writes a synthetic model-input sample (the project's preprocessing applied to
:func:`lhc_vae.benchmarks.synthetic.make_tables` events, chunk by chunk) under
``data/05_model_input/benchmark/<n>/``, then trains the experiment's VAE for one epoch over its
training split in a fresh child process, twice:

* ``streamed``: the ``train_vae`` node on the two Parquet paths (what ``kedro run`` does): the
  tables are read in chunks and fed to Keras in batches through ``tf.data``;
* ``in memory``: the tables loaded whole and turned into one array per input (the pre-#14 path).

Each child reports its own high-water mark (``VmHWM``), its training seconds and events/s. Prints a
JSON summary and writes it to ``data/08_reporting/benchmark/training_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.schema import primary_tables
from lhc_vae.events.selection import evaluate_selection
from lhc_vae.events.split import split_events
from lhc_vae.io import atomic_path
from lhc_vae.pipelines.preprocessing.nodes import make_model_input

#: Synthetic events made and written at a time.
WRITE_CHUNK = 100_000


def write_model_input(n_events: int, folder: Path, seed: int, params: dict[str, Any]) -> dict[str, str]:
    """A model-input sample of ``n_events`` synthetic events, preprocessed as the pipeline does (the
    scaler fitted on the first chunk's training split), written chunk by chunk with event_index running."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"events": folder / "events.parquet", "objects": folder / "objects.parquet"}
    writers: dict[str, pq.ParquetWriter] = {}
    scaler = None
    offset = 0
    with atomic_path(paths["events"]) as ev_tmp, atomic_path(paths["objects"]) as ob_tmp:
        for k, start in enumerate(range(0, n_events, WRITE_CHUNK)):
            n = min(WRITE_CHUNK, n_events - start)
            tables = make_tables(n, seed=seed + k)
            events, objects = primary_tables(tables)
            events = pd.concat([events, evaluate_selection(tables.objects, n)], axis=1)
            events["split"] = split_events(n, params["split"]["fractions"], seed + k)
            if scaler is None:
                train = (events["split"] == "train").to_numpy()
                fs = FeatureScaler.fit(
                    events[train], objects[train[objects["event_index"].to_numpy()]], params["representation"]
                )
                scaler = fs.to_dict()
            model_events, model_objects = make_model_input(events, objects, scaler)
            model_events["event_index"] += offset
            model_objects["event_index"] += offset
            offset += n
            for name, frame, tmp in (("events", model_events, ev_tmp), ("objects", model_objects, ob_tmp)):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(tmp, table.schema)
                writers[name].write_table(table)
        for w in writers.values():
            w.close()
    return {k: str(v) for k, v in paths.items()}


CHILD = """
import json, sys, time
import pandas as pd
from lhc_vae.cluster import peak_rss_mb
from lhc_vae.events.schema import object_types
from lhc_vae.models.experiments import get_experiment
from lhc_vae.models.streaming import SplitStream
from lhc_vae.models.vae import fit_vae
from lhc_vae.pipelines.vae.nodes import train_vae

args = json.loads(sys.argv[1])
params, ev, ob = args["params"], args["events"], args["objects"]
if args["mode"] == "streamed":
    _, _, info = train_vae(ev, ob, params["alpha"], params["beta"], 1, "benchmark", params)
else:  # in memory: the tables whole, and one array per input
    events, objects = pd.read_parquet(ev), pd.read_parquet(ob)
    objects["type"] = object_types(objects["type"], ob)
    exp = get_experiment(params["experiment"])
    train = SplitStream(events, objects, exp.layout, "train", chunk_events=len(events)).head()
    val = SplitStream(events, objects, exp.layout, "validation", chunk_events=len(events)).head()
    encoder = exp.encoder(exp.layout, int(params["latent_dim"]))
    decoder = exp.decoder(exp.layout, int(params["latent_dim"]))
    _, info = fit_vae(encoder, decoder, exp.variator, exp.losses, train, val, params["alpha"], params["beta"],
                      1, params, params["backup_dir"] + "/memory")
print("RESULT " + json.dumps({"peak_rss_mb": peak_rss_mb(), "training_seconds": info["training_seconds"],
      "training_events_per_second": info["training_events_per_second"], "epochs": info["epochs"],
      "training_events_seen": info["training_events_seen"]}))
"""


def train_once(mode: str, paths: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
    """One epoch in a child process; its peak RSS and speed."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    payload = json.dumps({"mode": mode, "params": params, **paths})
    proc = subprocess.run([sys.executable, "-c", CHILD, payload], env=env, capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"training ({mode}) failed with exit code {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--experiment", default="baseline", help="baseline or exp3 (single-model experiments)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--modes", nargs="+", default=["streamed", "in memory"], choices=["streamed", "in memory"])
    args = parser.parse_args(argv)

    conf = Path("conf/base")
    preprocessing = yaml.safe_load((conf / "parameters_preprocessing.yml").read_text())["preprocessing"]
    params = yaml.safe_load((conf / f"parameters_{args.experiment}.yml").read_text())[args.experiment]
    value = yaml.safe_load((conf / "globals.yml").read_text())  # the default alpha and beta
    params.update(
        epochs=1,
        early_stopping=None,
        max_steps=None,
        max_seconds=None,
        alpha=float(value["alpha"]),
        beta=float(value["beta"]),
        backup_dir="data/06_models/_training_backup/benchmark",
    )
    rows = []
    for n in args.events:
        folder = Path(f"data/05_model_input/benchmark/{n}")
        paths = write_model_input(n, folder, args.seed, preprocessing)
        size_mb = sum(Path(p).stat().st_size for p in paths.values()) / 2**20
        for mode in args.modes:
            result = train_once(mode, paths, params)
            rows.append({"events": n, "mode": mode, "parquet_mb": round(size_mb, 1), **result})
            print(json.dumps(rows[-1]), flush=True)
    summary = {"experiment": args.experiment, "batch_size": params["batch_size"], "runs": rows}
    out = Path("data/08_reporting/benchmark/training_memory.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
