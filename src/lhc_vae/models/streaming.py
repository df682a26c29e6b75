"""One split of the model input as model arrays, streamed in batches through ``tf.data``
(issue #14 item 4).

A :class:`SplitStream` reads the model-input tables chunk by chunk
(:func:`lhc_vae.events.chunks.iter_event_chunks`), keeps the events of its split that the
experiment's layout models (thesis §7.3.1, §7.6.1), turns each chunk into the layout's arrays and
hands Keras fixed-size batches. Training then holds one chunk and a few batches, not the sample:
its memory does not grow with the number of events. Each epoch shuffles the events inside every
chunk with its own seeded stream; Monte Carlo events are independent draws, so the file order
carries no structure to shuffle away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from lhc_vae.events.chunks import CHUNK_EVENTS, Table, iter_event_chunks, table_batches
from lhc_vae.events.schema import COUNT_COLUMNS
from lhc_vae.events.split import split_tables

#: The largest split a stream keeps in memory after its first pass (see :meth:`SplitStream.chunks`):
#: the make-run sample's splits (about 15 MB of arrays) are kept, a 100k-event sample's (74 MB) not.
CACHE_BYTES = 64 * 2**20


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _take(arrays: dict[str, np.ndarray], rows: slice | np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in arrays.items()}


def n_rows(arrays: dict[str, np.ndarray]) -> int:
    """Rows of a set of model arrays (events, or objects for a per-object component)."""
    return len(next(iter(arrays.values())))


class EpochOrder:
    """The epoch whose order a stream's next pass draws: ``first`` (the epoch training starts at, 0,
    or the epoch a resumed run goes on from) plus the passes already started. Keras starts the
    pass of epoch k + 1 when epoch k ends, before its ``on_epoch_begin``, so the count of passes,
    not a callback at each epoch, follows the epochs; a callback sets ``first`` before the first pass."""

    def __init__(self, first: int = 0):
        self.first = int(first)
        self.passes = 0

    def next(self) -> int:
        epoch = self.first + self.passes
        self.passes += 1
        return epoch


def count_split(
    events: Table,
    split: str,
    select: Callable[[pd.DataFrame], np.ndarray] | None = None,
    chunk_events: int = CHUNK_EVENTS,
) -> int:
    """Events of ``split`` in an events table (DataFrame or Parquet path) that pass ``select``,
    counted one record batch at a time."""
    frames, _ = table_batches(events, chunk_events, ["split", *COUNT_COLUMNS.values()])
    total = 0
    for f in frames:
        keep = (f["split"] == split).to_numpy()
        total += int((keep & select(f)).sum() if select is not None else keep.sum())
    return total


@dataclass
class SplitStream:
    """The model arrays of the events of ``split`` that ``layout`` models, read from the
    model-input tables (DataFrames or Parquet paths) ``chunk_events`` events at a time.

    ``layout``: anything with ``select(events) -> mask`` and ``to_arrays(events, objects)``, an
    experiment's layout (one row per event) or one component of experiments I and II
    (:class:`lhc_vae.models.multi.ComponentLayout`: one row per object of a type; its
    ``rows_are_events`` is false, and the rows are counted by a pass over the chunks)."""

    events: Table
    objects: Table
    layout: Any
    split: str
    chunk_events: int = CHUNK_EVENTS
    cache_bytes: int = CACHE_BYTES
    _n: int | None = field(default=None, repr=False)
    _cache: list[dict[str, np.ndarray]] | None = field(default=None, repr=False)

    def chunks(self) -> Iterator[dict[str, np.ndarray]]:
        """The split's arrays, one chunk of the tables at a time (chunks without events skipped).

        A split whose arrays take at most ``cache_bytes`` is kept after its first complete pass and
        served from memory afterwards (the same arrays, so the same batches): a small sample is not
        re-read every epoch, and the memory stays bounded by ``cache_bytes`` whatever the sample."""
        if self._cache is not None:
            yield from self._cache
            return
        kept: list[dict[str, np.ndarray]] | None = []
        size = 0
        for ev, obj in iter_event_chunks(self.events, self.objects, self.chunk_events):
            ev_s, obj_s = split_tables(ev, obj, self.split, self.layout.select(ev))
            if not len(ev_s):
                continue
            arrays = self.layout.to_arrays(ev_s, obj_s)
            if not n_rows(arrays):
                continue
            if kept is not None:
                size += sum(v.nbytes for v in arrays.values())
                if size <= self.cache_bytes:
                    kept.append(arrays)
                else:
                    kept = None
            yield arrays
        if kept is not None:
            self._cache = kept

    @property
    def n_events(self) -> int:
        """Rows of the split: the events the layout models (a pass over the events table alone), or
        the rows of a per-object layout (a pass over the chunks)."""
        if self._n is None:
            if getattr(self.layout, "rows_are_events", True):
                self._n = count_split(self.events, self.split, self.layout.select, self.chunk_events)
            else:
                self._n = sum(n_rows(a) for a in self.chunks())
        return self._n

    def head(self, n: int | None = None) -> dict[str, np.ndarray]:
        """The arrays of the split's first ``n`` events (all of them with ``None``), in memory."""
        parts, have = [], 0
        for arrays in self.chunks():
            parts.append(arrays)
            have += n_rows(arrays)
            if n is not None and have >= n:
                break
        if not parts:
            raise ValueError(f"no rows of the {self.split!r} split pass the experiment's event filter")
        out = _concat(parts)
        return out if n is None else _take(out, slice(0, n))

    def batches(self, batch_size: int, seed: int | None, epoch: int) -> Iterator[dict[str, np.ndarray]]:
        """Batches of exactly ``batch_size`` events (the last of the split may be shorter), the
        events of each chunk in a random order drawn from (``seed``, ``epoch``); ``seed=None``
        keeps the file order (validation)."""
        rng = None if seed is None else np.random.default_rng([int(seed), int(epoch)])
        carry: dict[str, np.ndarray] | None = None
        for arrays in self.chunks():
            if rng is not None:
                arrays = _take(arrays, rng.permutation(n_rows(arrays)))
            if carry is not None:
                arrays = _concat([carry, arrays])
            n = n_rows(arrays)
            full = n - n % batch_size
            for start in range(0, full, batch_size):
                yield _take(arrays, slice(start, start + batch_size))
            carry = _take(arrays, slice(full, n)) if full < n else None
        if carry is not None:
            yield carry

    def dataset(
        self, batch_size: int, targets: Any, seed: int | None = None, order: EpochOrder | None = None
    ) -> tf.data.Dataset:
        """A ``tf.data.Dataset`` of (inputs, ``targets(inputs)``) batches; every pass over it (a
        Keras epoch) reads the tables again in the order of the epoch ``order`` gives it (epochs
        0, 1, 2, ... by default)."""
        first = self.head(1)
        example_y = targets(first)

        def spec(arrays: dict[str, np.ndarray]) -> dict[str, tf.TensorSpec]:
            return {k: tf.TensorSpec((None, *v.shape[1:]), tf.as_dtype(v.dtype)) for k, v in arrays.items()}

        epochs = order or EpochOrder()

        def generate() -> Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
            for x in self.batches(batch_size, seed, epochs.next()):
                yield x, targets(x)

        signature = (spec(first), spec(example_y))
        n_batches = -(-self.n_events // int(batch_size))  # known to Keras: one epoch is one pass
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        return dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)
