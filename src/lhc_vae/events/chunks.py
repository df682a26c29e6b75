"""An event sample in chunks of events, read from its Parquet tables without loading them whole
(issue #14 item 4).

The model-input tables (:mod:`lhc_vae.events.schema`: one row per event, one row per object, both
ordered by ``event_index``) are read side by side in record batches and joined chunk by chunk, so
the memory a reader holds is that of one chunk, whatever the size of the sample. The same function
cuts in-memory tables the same way, so code that consumes chunks runs on either.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lhc_vae.events.schema import object_types

#: Events per chunk: about 10 MB of model-input tables (an event and its ~5.5 objects), and 30 MB
#: as the baseline's arrays (19 slots x 12 floats).
CHUNK_EVENTS = 32768

#: A table: in memory, or the path of its Parquet file.
Table = pd.DataFrame | str | Path


def _frame(batch: pa.RecordBatch, where: str, first_row: int) -> pd.DataFrame:
    df = batch.to_pandas()
    if "type" in df.columns:
        df["type"] = object_types(df["type"], where, first_row)
    return df


def _read(path: str, rows: int, columns: list[str] | None) -> Iterator[pd.DataFrame]:
    first = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns):
        yield _frame(batch, path, first)
        first += batch.num_rows


def table_batches(
    table: Table, rows: int, columns: list[str] | None = None, name: str = "the table"
) -> tuple[Iterator[pd.DataFrame], str]:
    """Record batches of ``rows`` rows (of ``columns``, all by default) as DataFrames, and the name
    errors give the table (its path, or ``name`` for a table in memory)."""
    if isinstance(table, pd.DataFrame):
        frame = table if columns is None else table[columns]
        return (frame.iloc[i : i + rows] for i in range(0, len(frame), rows)), name
    return _read(str(table), rows, columns), str(table)


def _check_order(index: np.ndarray, previous: int, where: str, first_row: int, strict: bool) -> None:
    """Raise unless ``index`` (one batch's ``event_index``) continues an increasing sequence
    (strictly for events, non-decreasing for objects) after ``previous``."""
    if not len(index):
        return
    before = np.r_[previous, index[:-1]]
    bad = index <= before if strict else index < before
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"{where}, row {first_row + k}: event_index {int(index[k])} after {int(before[k])}; the table must be "
            "ordered by event_index to be read in chunks (the preprocessing pipeline writes it so)"
        )


def iter_event_chunks(
    events: Table, objects: Table, chunk_events: int = CHUNK_EVENTS
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Yield (events, objects) for consecutive chunks of ``chunk_events`` events, each chunk's
    objects being exactly those whose ``event_index`` lies in it.

    ``events`` and ``objects``: DataFrames, or the paths of Parquet files read in record batches.
    Both must be ordered by ``event_index`` (events strictly, objects non-decreasing); a row out of
    order, an object whose event is not in the events table, or objects after the last event are
    errors that name the table and the row or event."""
    ev_iter, ev_name = table_batches(events, chunk_events, name="the events table")
    ob_iter, ob_name = table_batches(objects, 4 * chunk_events, name="the objects table")
    pending: list[pd.DataFrame] = []
    pending_max = -1
    ob_rows = ev_rows = ob_consumed = 0
    last_event = last_object = -1
    exhausted = False
    for ev in ev_iter:
        index = ev["event_index"].to_numpy()
        _check_order(index, last_event, ev_name, ev_rows, strict=True)
        ev_rows += len(ev)
        if not len(ev):
            continue
        last_event, hi = int(index[-1]), int(index[-1])
        while not exhausted and pending_max <= hi:
            batch = next(ob_iter, None)
            if batch is None:
                exhausted = True
                break
            ob_index = batch["event_index"].to_numpy()
            _check_order(ob_index, last_object, ob_name, ob_rows, strict=False)
            ob_rows += len(batch)
            if len(batch):
                last_object = pending_max = int(ob_index[-1])
                pending.append(batch)
        obj = pd.concat(pending, ignore_index=True) if len(pending) > 1 else (pending[0] if pending else None)
        if obj is None:
            obj = _empty_like(objects)
        cut = int(np.searchsorted(obj["event_index"].to_numpy(), hi, side="right"))
        mine, rest = obj.iloc[:cut].reset_index(drop=True), obj.iloc[cut:]
        pending = [rest] if len(rest) else []
        known = np.isin(mine["event_index"].to_numpy(), index)
        if not known.all():
            k = int(np.argmin(known))
            orphan, row = int(mine["event_index"].iloc[k]), ob_consumed + k
            raise ValueError(f"{ob_name}, row {row}: an object of event_index {orphan} whose event is not in {ev_name}")
        ob_consumed += cut
        yield ev.reset_index(drop=True), mine
    leftover = sum(len(p) for p in pending) + (0 if exhausted else sum(len(b) for b in ob_iter))
    if leftover and ev_rows == 0:
        raise ValueError(f"{ev_name} is empty but {ob_name} holds {leftover} objects")
    if leftover:
        raise ValueError(
            f"{ob_name}, row {ob_consumed}: {leftover} objects after the last event of {ev_name} "
            f"(event_index {last_event})"
        )


def _empty_like(objects: Table) -> pd.DataFrame:
    if isinstance(objects, pd.DataFrame):
        return objects.iloc[:0]
    schema = pq.ParquetFile(str(objects)).schema_arrow
    return _frame(pa.RecordBatch.from_pylist([], schema=schema), str(objects), 0)
