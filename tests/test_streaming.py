"""Training input read from Parquet in chunks and batches (issue #14 item 4)."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_models import _model_tables

from lhc_vae.events.chunks import iter_event_chunks
from lhc_vae.events.split import split_tables
from lhc_vae.models.experiments import get_experiment
from lhc_vae.models.layouts import JetsLayout
from lhc_vae.models.streaming import SplitStream
from lhc_vae.models.vae import assemble, compile_vae, train


def _write(frame: pd.DataFrame, path, row_group_size: int) -> str:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_size)
    return str(path)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """1000 standardised events (800 train, 200 validation) and their Parquet files, written in
    row groups that do not line up with the reader's chunks."""
    _, _, _, mev, mobj = _model_tables(1000, seed=11)
    folder = tmp_path_factory.mktemp("model_input")
    return mev, mobj, _write(mev, folder / "events.parquet", 100), _write(mobj, folder / "objects.parquet", 333)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False, check_categorical=False
    )


def test_chunks_of_the_parquet_files_are_the_tables_cut_by_event(sample):
    """Chunks of 128 events: 8 chunks (7 x 128 + 104); each chunk holds exactly the objects of its
    events; put back together, the chunks are the two tables, row for row, from files and from memory."""
    mev, mobj, ev_path, ob_path = sample
    for events, objects in ((ev_path, ob_path), (mev, mobj)):
        chunks = list(iter_event_chunks(events, objects, chunk_events=128))
        assert [len(ev) for ev, _ in chunks] == [128] * 7 + [104]
        for ev, obj in chunks:
            assert set(obj["event_index"]) <= set(ev["event_index"])
            assert len(obj) == mobj["event_index"].isin(ev["event_index"]).sum()
        _same(pd.concat([ev for ev, _ in chunks]), mev)
        _same(pd.concat([obj for _, obj in chunks]), mobj)
        assert all(str(obj["type"].dtype) == "category" for _, obj in chunks)


def test_an_object_out_of_order_or_without_its_event_is_named(sample, tmp_path):
    """Swapping object rows 400 and 700 puts row 401 before its predecessor; dropping the events
    from 900 on leaves objects without their event; both errors name the file and where."""
    mev, mobj, ev_path, _ = sample
    order = np.arange(len(mobj))
    order[[400, 700]] = [700, 400]
    swapped = mobj.iloc[order].reset_index(drop=True)
    bad = _write(swapped, tmp_path / "objects.parquet", 333)
    expected_row = 400 if swapped["event_index"].iloc[400] < swapped["event_index"].iloc[399] else 401
    with pytest.raises(ValueError, match=rf"objects\.parquet, row {expected_row}: event_index"):
        list(iter_event_chunks(ev_path, bad, chunk_events=128))
    short = _write(mev.iloc[:900], tmp_path / "events.parquet", 100)
    good_objects = sample[3]
    kept = int((mobj["event_index"] < 900).sum())
    after = rf"objects\.parquet, row {kept}: {len(mobj) - kept} objects after the last event of .*events\.parquet"
    with pytest.raises(ValueError, match=after):
        list(iter_event_chunks(short, good_objects, chunk_events=128))


def test_an_orphan_object_or_an_unknown_type_is_named_with_its_row(sample, tmp_path):
    """Events without event 500 leave its objects orphans in the middle of the objects file; an
    object typed 'zz' is not one of the symbols. Both errors name the file and the object's row."""
    mev, mobj, _, ob_path = sample
    events = _write(mev[mev["event_index"] != 500], tmp_path / "events.parquet", 100)
    first = int(np.flatnonzero(mobj["event_index"].to_numpy() == 500)[0])
    with pytest.raises(ValueError, match=rf"objects\.parquet, row {first}: an object of event_index 500 whose event"):
        list(iter_event_chunks(events, ob_path, chunk_events=128))
    typed = mobj.assign(type=mobj["type"].astype(str))
    typed.loc[777, "type"] = "zz"
    bad = _write(typed, tmp_path / "objects.parquet", 333)
    with pytest.raises(ValueError, match=r"objects\.parquet, row 777: object type 'zz' is not one of j, b"):
        list(iter_event_chunks(sample[2], bad, chunk_events=128))


def test_keras_epochs_draw_the_orders_of_their_own_epochs(sample, monkeypatch):
    """Keras starts the pass of epoch k + 1 before that epoch's callbacks: the stream's epochs still
    follow Keras's, also from a resumed epoch (initial_epoch 3 gives passes 3 and 4)."""
    from lhc_vae.models.streaming import EpochOrder
    from lhc_vae.models.vae import StreamEpochs

    _, _, ev_path, ob_path = sample
    stream = SplitStream(ev_path, ob_path, JetsLayout(), "train", chunk_events=128)
    seen: list[int] = []
    batches = SplitStream.batches

    def record(self, batch_size, seed, epoch):
        seen.append(epoch)
        yield from batches(self, batch_size, seed, epoch)

    monkeypatch.setattr(SplitStream, "batches", record)
    inputs = {k: keras.Input(v.shape[1:], name=k) for k, v in stream.head(1).items()}
    model = keras.Model(inputs, {"met": keras.layers.Dense(2)(inputs["met"])})
    model.compile(optimizer="sgd", loss={"met": "mse"})
    order = EpochOrder()
    data = stream.dataset(64, lambda a: {"met": a["met"]}, seed=1, order=order)
    model.fit(data, epochs=5, initial_epoch=3, callbacks=[StreamEpochs(order)], shuffle=False, verbose=0)
    assert seen[:2] == [3, 4]


def test_a_split_streams_in_full_batches_and_reshuffles_each_epoch(sample):
    """The exp III layout's training events, streamed in batches of 64 from chunks of 128 table
    events: every batch has 64 events but the last; one epoch holds each event once (the same rows
    as the arrays built in memory); the same (seed, epoch) gives the same order, the next epoch another."""
    mev, mobj, ev_path, ob_path = sample
    layout = JetsLayout()
    want = layout.to_arrays(*split_tables(mev, mobj, "train", layout.select(mev)))
    n = len(want["met"])
    stream = SplitStream(ev_path, ob_path, layout, "train", chunk_events=128)
    assert stream.n_events == n == int(((mev["split"] == "train").to_numpy() & layout.select(mev)).sum())
    epoch0 = list(stream.batches(64, seed=5, epoch=0))
    assert [len(b["met"]) for b in epoch0] == [64] * (n // 64) + [n % 64]

    def rows(batches):
        return np.concatenate(
            [np.concatenate([b[k].reshape(len(b["met"]), -1) for k in sorted(b)], 1) for b in batches]
        )

    def by_row(a):
        return a[np.lexsort(a.T[::-1])]

    np.testing.assert_array_equal(by_row(rows(epoch0)), by_row(rows([want])))
    np.testing.assert_array_equal(rows(epoch0), rows(stream.batches(64, seed=5, epoch=0)))
    assert not np.array_equal(rows(epoch0), rows(stream.batches(64, seed=5, epoch=1)))
    np.testing.assert_array_equal(rows(stream.batches(64, seed=None, epoch=0)), rows([want]))  # file order
    head = stream.head(10)
    np.testing.assert_array_equal(rows([head]), rows([want])[:10])


def test_training_from_the_parquet_files_sees_every_event_each_epoch(sample, tmp_path):
    """Three epochs of the exp III beta-VAE streamed from the files: 3 x ceil(n / 64) optimizer
    steps and 3 n events seen, a validation loss every epoch, and the loss falls."""
    _, _, ev_path, ob_path = sample
    exp = get_experiment("exp3")
    train_stream = SplitStream(ev_path, ob_path, exp.layout, "train", chunk_events=128)
    val_stream = SplitStream(ev_path, ob_path, exp.layout, "validation", chunk_events=128)
    n = train_stream.n_events
    keras.utils.set_random_seed(0)
    model = assemble(exp.encoder(exp.layout, 16), exp.decoder(exp.layout, 16), "beta", seed=0)
    compile_vae(model, exp.losses, beta=1.0, learning_rate=1e-3)
    settings = {"epochs": 3, "batch_size": 64}
    history, control = train(model, train_stream, val_stream, 1.0, settings, tmp_path / "bk", verbose=0, seed=3)
    assert control["optimizer_steps"] == 3 * -(-n // 64) and control["training_events_seen"] == 3 * n
    assert len(history["val_loss"]) == 3
    assert history["loss"][-1] < history["loss"][0]


def test_a_component_of_experiments_one_and_two_streams_its_objects(sample):
    """Experiment I's jet component (one row per jet below the thermometer's width, with its
    event's MET) and experiment II's b-jet component, streamed from the files in chunks of 128
    events: the file-order stream is the array built from the whole tables, row for row, and its
    row count is the number of those objects."""
    from lhc_vae.models import multi

    mev, mobj, ev_path, ob_path = sample
    for experiment, name in (("exp1", "j"), ("exp2", "b"), ("exp1", "event")):
        comp = next(c for c in multi.components(experiment, 16) if c.name == name)
        want = multi.component_arrays(experiment, comp, *split_tables(mev, mobj, "validation"))
        stream = SplitStream(ev_path, ob_path, multi.ComponentLayout(experiment, comp), "validation", chunk_events=128)
        got = list(stream.batches(50, seed=None, epoch=0))
        assert stream.n_events == len(next(iter(want.values()))) > 0
        for key, value in want.items():
            np.testing.assert_array_equal(np.concatenate([b[key] for b in got]), value)


def test_a_small_split_is_served_from_memory_after_its_first_pass(sample, tmp_path):
    """With room for the split, a second pass gives the same batches even once the files are gone;
    with no room (cache_bytes 0) every pass reads the files, so the second one fails."""
    mev, mobj, _, _ = sample
    ev = _write(mev, tmp_path / "events.parquet", 100)
    ob = _write(mobj, tmp_path / "objects.parquet", 333)
    cached = SplitStream(ev, ob, JetsLayout(), "train", chunk_events=128)
    uncached = SplitStream(ev, ob, JetsLayout(), "train", chunk_events=128, cache_bytes=0)
    first = list(cached.batches(64, seed=2, epoch=0))
    assert len(list(uncached.batches(64, seed=2, epoch=0))) == len(first)
    (tmp_path / "events.parquet").unlink()
    again = list(cached.batches(64, seed=2, epoch=0))
    for a, b in zip(first, again, strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    with pytest.raises(FileNotFoundError):
        list(uncached.batches(64, seed=2, epoch=0))
