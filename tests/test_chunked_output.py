"""Outputs written in pieces with bounded memory (issue #14 items 2 and 5): the datasets append the
pieces of a generator node and move the output into place at the last one; the MC sample is read
back from its finished blocks piece by piece; generation runs in seeded chunks, here or on the
workers of a Dask cluster, with the same events either way."""

from __future__ import annotations

import gc
import itertools
import json
import pickle
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT
from kedro.io import DatasetError

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.datasets import DarkMachinesDataset, JSONDataset, ParquetTableDataset
from lhc_vae.events.darkmachines import read_darkmachines, write_darkmachines
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.schema import EventTables, primary_tables
from lhc_vae.events.split import concat_tables, take_events
from lhc_vae.io import Chunk, chunked
from lhc_vae.mc.simulation import BlockResult, checkpoint_directory, generate_pieces, run_blocks, save_block
from lhc_vae.models.experiments import get_experiment
from lhc_vae.models.generation import chunk_seed, multi_model_run, run_generation, single_model_run
from lhc_vae.models.losses import continuous_outputs
from lhc_vae.models.multi import components
from lhc_vae.models.vae import decode

MC = yaml.safe_load((ROOT / "conf" / "base" / "parameters_mc.yml").read_text())["mc"]


def _pieces(tables: EventTables, bounds: list[int]) -> list[EventTables]:
    return [
        EventTables(*take_events(tables.events, tables.objects, np.arange(a, b))) for a, b in itertools.pairwise(bounds)
    ]


def _save_in_pieces(dataset, pieces: list) -> None:
    for k, piece in enumerate(pieces):
        dataset.save(Chunk(piece, k, k == len(pieces) - 1))


@pytest.mark.parametrize("name", ["sample.csv", "sample.csv.gz"])
def test_a_dark_machines_file_saved_in_pieces_equals_one_save(tmp_path: Path, name: str):
    tables = make_tables(900, seed=4)
    whole = tmp_path / f"whole_{name}"
    write_darkmachines(tables, whole)
    target = tmp_path / name
    dataset = DarkMachinesDataset(str(target))
    pieces = _pieces(tables, [0, 250, 251, 900])
    dataset.save(Chunk(pieces[0], 0, False))
    dataset.save(Chunk(pieces[1], 1, False))
    assert not target.exists()  # nothing is visible before the last piece
    dataset.save(Chunk(pieces[2], 2, True))
    if name.endswith(".gz"):  # appended gzip members: other bytes, the same text
        for path in (whole, target):  # gzip members without a file name (FLG.FNAME) or a time stamp (MTIME)
            head = path.read_bytes()[:8]
            assert head[:2] == b"\x1f\x8b" and head[3] & 0x08 == 0 and head[4:8] == b"\0\0\0\0"
        a, b = read_darkmachines(target), read_darkmachines(whole)
        assert a.n_rejected == 0 and a.n_lines == 900
        pd.testing.assert_frame_equal(a.tables.events, b.tables.events)
        pd.testing.assert_frame_equal(a.tables.objects, b.tables.objects)
    else:
        assert target.read_bytes() == whole.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f"whole_{name}"])  # no temporary left


@pytest.mark.parametrize("partition_cols", [None, ["type"]])
def test_a_parquet_table_saved_in_pieces_loads_as_the_whole_table(tmp_path: Path, partition_cols):
    events, objects = primary_tables(make_tables(700, seed=2))
    table = objects if partition_cols else events
    target = tmp_path / ("objects" if partition_cols else "events.parquet")
    dataset = ParquetTableDataset(str(target), partition_cols=partition_cols)
    dataset.save(table.iloc[:10])  # an older output stays whole until the new one is complete
    bounds = [0, 100, 101, len(table)]
    parts = [table.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    dataset.save(Chunk(parts[0], 0, False))
    dataset.save(Chunk(parts[1], 1, False))
    assert len(ParquetTableDataset(str(target), partition_cols=partition_cols).load()) == 10
    dataset.save(Chunk(parts[2], 2, True))
    loaded = ParquetTableDataset(str(target), partition_cols=partition_cols).load()
    pd.testing.assert_frame_equal(loaded[table.columns], table.reset_index(drop=True), check_categorical=False)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_pieces_out_of_order_are_refused_and_an_unfinished_output_leaves_nothing(tmp_path: Path):
    tables = make_tables(300, seed=1)
    pieces = _pieces(tables, [0, 100, 200, 300])
    target = tmp_path / "sample.csv"
    dataset = DarkMachinesDataset(str(target))
    dataset.save(Chunk(pieces[0], 0, False))
    with pytest.raises(DatasetError, match="piece 2 arrived, expected piece 1"):
        dataset.save(Chunk(pieces[2], 2, True))
    # a new run of the node starts again at piece 0: the first attempt's piece is not kept
    _save_in_pieces(dataset, pieces[1:])
    assert read_darkmachines(target).tables.n_events == 200
    # a piece that cannot be written ends the stream: no temporary file, and no later piece is appended
    failed = DarkMachinesDataset(str(tmp_path / "failed.csv"))
    failed.save(Chunk(pieces[0], 0, False))
    with pytest.raises(DatasetError, match="saves EventTables, got DataFrame"):
        failed.save(Chunk(tables.events, 1, False))
    assert [p.name for p in tmp_path.iterdir()] == ["sample.csv"]
    with pytest.raises(DatasetError, match="piece 2 arrived, expected piece 0"):
        failed.save(Chunk(pieces[2], 2, True))
    # an unfinished stream's temporary file goes with its dataset (the atomic path's clean-up)
    failed.save(Chunk(pieces[0], 0, False))
    del failed
    gc.collect()
    assert [p.name for p in tmp_path.iterdir()] == ["sample.csv"]
    # a running summary is written once, whole, at the last piece
    summary = JSONDataset(str(tmp_path / "stats.json"))
    summary.save(Chunk({"n": 1}, 0, False))
    assert not (tmp_path / "stats.json").exists()
    summary.save(Chunk({"n": 2}, 1, True))
    assert json.loads((tmp_path / "stats.json").read_text()) == {"n": 2}


def test_chunked_marks_the_last_step_only_and_a_written_piece_holds_nothing():
    steps = list(chunked(iter([("a", 1), ("b", 2), ("c", 3)]), 3))
    assert [[(c.data, c.index, c.last) for c in step] for step in steps] == [
        [("a", 0, False), (1, 0, False)],
        [("b", 1, False), (2, 1, False)],
        [("c", 2, True), (3, 2, True)],
    ]
    with pytest.raises(ValueError, match="ended after 2"):
        list(chunked(iter([("a",), ("b",)]), 3))
    with pytest.raises(ValueError, match="got a piece 1"):
        list(chunked(iter([("a",), ("b",)]), 1))
    piece = Chunk("x", 0, True)
    assert piece.take() == "x" and piece.data is None
    with pytest.raises(ValueError, match="written already"):
        piece.take()


def test_a_generator_node_run_by_kedro_keeps_no_written_piece_in_memory(tmp_path: Path):
    """Kedro splits the steps of a node with several outputs through itertools.tee, whose buffer
    keeps up to 57 steps; the datasets take the tables out of the pieces they write, so no table
    of an earlier step is alive while a later step is made (issue #14 item 5). With pieces that
    keep their tables, every step's tables would still be alive at the last step."""
    from kedro.io import DataCatalog
    from kedro.pipeline import Node, Pipeline
    from kedro.runner import SequentialRunner

    alive: list[weakref.ref] = []
    n_steps = 8  # the tee buffer would keep all 8

    def node() -> Iterator[tuple[Chunk, Chunk]]:
        for k in range(n_steps):
            gc.collect()
            assert sum(ref() is not None for ref in alive) <= 2, f"step {k}: earlier tables still in memory"
            tables = make_tables(20, seed=k)
            events = primary_tables(tables)[0]
            alive.extend([weakref.ref(tables.events), weakref.ref(events)])
            yield Chunk(events, k, k == n_steps - 1), Chunk(tables, k, k == n_steps - 1)

    catalog = DataCatalog(
        {
            "events": ParquetTableDataset(str(tmp_path / "events.parquet")),
            "dm": DarkMachinesDataset(str(tmp_path / "sample.csv")),
        }
    )
    SequentialRunner().run(Pipeline([Node(node, None, ["events", "dm"])]), catalog)
    assert len(pd.read_parquet(tmp_path / "events.parquet")) == 20 * n_steps
    assert read_darkmachines(tmp_path / "sample.csv").tables.n_events == 20 * n_steps


def _synthetic_block(block: int, block_size: int, n_accepted: int) -> BlockResult:
    """Block ``block`` of accepted events as the MC chain writes them (event ids count tried events)."""
    tables = make_tables(n_accepted, seed=100 + block)
    tried = np.sort(np.random.default_rng(block).choice(block_size, n_accepted, replace=False))
    events = tables.events[["met", "met_phi"]].assign(event_id=block * block_size + tried, process_id="ttbar")
    # N_tried differs per block (a real block tries block_size events) so that sigma's weights show
    return BlockResult(block, events[["event_id", "process_id", "met", "met_phi"]], tables.objects,
                       block_size + 10 * block, 500.0 + 10 * block, 2.0, 1.0, 0.1)  # fmt: skip


def test_the_mc_sample_is_read_back_from_its_blocks_piece_by_piece(tmp_path: Path):
    """Finished blocks on disk (as an interrupted run leaves them) give the sample without running
    Pythia8: blocks held without their tables, pieces of whole blocks, the last block cut at
    n_events, and the weight sigma * L / N_tried up to the last event kept (thesis §3.2)."""
    settings, seed, block_size = MC["processes"]["ttbar"]["settings"], 3, 50
    directory = checkpoint_directory(tmp_path, "ttbar", settings, MC["detector"], seed, block_size)
    directory.mkdir(parents=True)
    blocks = [_synthetic_block(b, block_size, n) for b, n in enumerate([40, 35, 45, 30])]
    for block in blocks:
        save_block(block, directory)

    held = run_blocks(100, lambda b: (), 10, n_workers=1, directory=directory)
    assert [(r.block, r.n_accepted, r.events) for r in held] == [(0, 40, None), (1, 35, None), (2, 45, None)]

    pieces, count, stats = generate_pieces(
        100, "ttbar", settings, MC["detector"], seed, n_workers=1, block_size=block_size,
        progress=False, checkpoint_root=tmp_path, piece_events=60,
    )  # fmt: skip
    pieces = list(pieces)
    assert count == 2 and [p.n_events for p in pieces] == [
        75,
        25,
    ]  # blocks 0+1 (40+35 >= 60), then block 2 cut at 25 events
    joined = concat_tables(pieces)
    expected = concat_tables([EventTables(b.events, b.objects) for b in blocks[:3]])
    n_tried = int(blocks[2].events["event_id"].iloc[24]) + 1
    sigma = (500.0 * 50 + 510.0 * 60 + 520.0 * 70) / (50 + 60 + 70)  # weighted by each block's N_tried
    assert stats["events_tried"] == n_tried and stats["events_accepted"] == 100
    assert stats["blocks_resumed"] == 3 and stats["blocks_computed"] == 0
    np.testing.assert_allclose(joined.events["weight"], sigma * 1e3 * 10.0 / n_tried)
    pd.testing.assert_frame_equal(joined.events.drop(columns="weight"), expected.events.iloc[:100])
    pd.testing.assert_frame_equal(
        joined.objects.reset_index(drop=True),
        expected.objects[expected.objects["event_index"] < 100].reset_index(drop=True),
    )


@pytest.fixture(scope="module")
def exp3_run():
    events, objects = primary_tables(make_tables(300, seed=6))
    events["split"] = "train"
    scaler = FeatureScaler.fit(events, objects)
    exp = get_experiment("exp3")
    decoder = exp.decoder(exp.layout, 8)
    prior = {"kind": "normal", "latent_dim": 8}
    return single_model_run(exp.layout, decoder, prior, scaler, "ttbar", batch_size=4096)


def _generate(run, n: int, chunk_events: int | None, client=None) -> tuple[list, dict]:
    steps = list(run_generation(run, n, 7, chunk_events, client, experiment="exp3"))
    return steps, steps[-1][3]


def test_generation_in_chunks_numbers_events_like_one_table(exp3_run):
    steps, stats = _generate(exp3_run, 2500, 1000)
    assert [len(s[0]) for s in steps] == [1000, 1000, 500] and stats["n_chunks"] == 3
    events = pd.concat([s[0] for s in steps], ignore_index=True)
    objects = pd.concat([s[1] for s in steps], ignore_index=True)
    np.testing.assert_array_equal(events["event_index"], np.arange(2500))
    np.testing.assert_array_equal(events["event_id"], np.arange(2500))
    # objects point at their own event: per event, the count of objects is the event's n_objects
    counts = np.bincount(objects["event_index"], minlength=2500)
    np.testing.assert_array_equal(counts, events["n_objects"])
    # each chunk's Dark Machines tables count from 0 within the chunk, with the run's event ids
    last = steps[-1][2]
    assert last.objects["event_index"].max() < 500 and last.events["event_id"].iloc[0] == 2000
    # chunk k is the run's call with the chunk's own seed: chunk 0 the run's seed, chunk 1 another
    first, _ = exp3_run(1000, 7)
    second, _ = exp3_run(1000, chunk_seed(7, 1))
    np.testing.assert_array_equal(steps[0][2].events["met"], first.events["met"])
    np.testing.assert_array_equal(steps[1][2].events["met"], second.events["met"])
    assert not np.allclose(first.events["met"], second.events["met"])
    # the statistics of the last chunk are the run's: the IER of all 2500 events
    assert stats["invalid_event_rate_percent"] == pytest.approx(100 * (~events["passes_selection"]).mean())
    assert stats["mean_objects_per_event"] == pytest.approx(events["n_objects"].mean())
    with pytest.raises(ValueError, match="n_generate must be positive"):
        _generate(exp3_run, 0, None)


def test_a_run_sent_to_a_worker_samples_its_decoders_like_the_original():
    """A run is pickled to reach a Dask worker, and its decoders are new objects there: experiment
    I's Gaussian decoders must still be sampled with their own offset and sigma (the lookup is made
    inside the copy), so the copy's events equal the original's."""
    import cloudpickle

    events, objects = primary_tables(make_tables(300, seed=5))
    events["split"] = np.where(np.arange(300) % 10 < 7, "train", "validation")
    scaler = FeatureScaler.fit(events, objects)
    mev, mobj = scaler.transform_events(events), scaler.transform_objects(objects)
    val = mev["split"] == "validation"
    truth = (mev[val], mobj[mobj["event_index"].isin(mev.loc[val, "event_index"])])
    models = {c.name: {"encoder": c.encoder(), "decoder": c.decoder()} for c in components("exp1", 8)}
    means = {c.name: decode(models[c.name]["decoder"], np.zeros((1, 8), np.float32)) for c in components("exp1", 8)}
    likelihood = {
        c.name: {
            "sigma": {out: [0.5] * means[c.name][out].shape[-1] for out in continuous_outputs(c.losses)},
            "offset": {
                out: {"at": [[0.0]] * means[c.name][out].shape[-1], "value": [[0.3]] * means[c.name][out].shape[-1]}
                for out in continuous_outputs(c.losses)
            },
        }
        for c in components("exp1", 8)
    }
    noisy = multi_model_run("exp1", models, scaler, "ttbar", truth=truth, alpha=0.2, likelihood=likelihood)
    plain = multi_model_run("exp1", models, scaler, "ttbar", truth=truth, alpha=0.2)
    copy = pickle.loads(cloudpickle.dumps(noisy))
    a, b, c = noisy(400, 3)[0], copy(400, 3)[0], plain(400, 3)[0]
    np.testing.assert_allclose(b.objects["pt"], a.objects["pt"], rtol=1e-5)
    assert not np.allclose(c.objects["pt"], a.objects["pt"])  # the noise is there to lose


@pytest.mark.slow
def test_chunks_generated_on_dask_workers_are_the_chunks_made_here(exp3_run):
    """The run (decoder, prior, scaler) is sent to the workers of a 2-process LocalCluster and the
    chunks come back in order, equal to those made in this process (issue #14 item 5)."""
    from lhc_vae.cluster import dask_client

    here, stats_here = _generate(exp3_run, 2200, 500)
    with dask_client(2) as client:
        there, stats_there = _generate(exp3_run, 2200, 500, client)
    assert stats_there["workers"] == 2 and stats_here["workers"] == "this process"
    assert len(stats_there["worker_peak_rss_mb"]) == 2 and "worker_peak_rss_mb" not in stats_here
    assert len(there) == len(here) == 5
    for a, b in zip(here, there, strict=True):
        pd.testing.assert_frame_equal(a[0], b[0])
        pd.testing.assert_frame_equal(a[1], b[1])
    assert stats_there["invalid_event_rate_percent"] == stats_here["invalid_event_rate_percent"]
