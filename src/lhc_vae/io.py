"""Atomic file output: a reader never sees a half-written file or directory, also when the file is
written in pieces (:class:`Chunk`, :class:`AtomicStream`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only on success.

    Files are moved with :func:`os.replace`. A directory replaces the old one by renaming the
    old aside first, so the target is never a mix of old and new content.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            old = None
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                os.rmdir(old)
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@dataclass
class Chunk:
    """One piece of an output written piece by piece (issue #14 item 5).

    A Kedro node that is a generator function yields one value per output per step, and Kedro saves
    each value as it comes; the project's datasets take a ``Chunk`` as "append this piece", start the
    file at ``index`` 0 and move it into place at the ``last`` piece, so a reader never sees a
    half-written output. A dataset :meth:`take` s the data it writes: Kedro splits the steps of a
    node with several outputs through ``itertools.tee``, whose buffer keeps up to 57 steps alive,
    and what it keeps is then a row of empty pieces, not the tables."""

    data: Any
    index: int
    last: bool

    def take(self) -> Any:
        """The piece's data, released from the piece (a written piece holds nothing)."""
        data, self.data = self.data, None
        if data is None:
            raise ValueError(f"piece {self.index} was written already")
        return data


def chunked(steps: Iterable[tuple[Any, ...]], count: int) -> Iterator[tuple[Chunk, ...]]:
    """Wrap the outputs of each of the ``count`` steps of a generator node in :class:`Chunk`; the
    last is marked as such (a step more or fewer than ``count`` is an error)."""
    k = -1
    for k, outputs in enumerate(steps):
        if k >= count:
            raise ValueError(f"a chunked output of {count} pieces got a piece {k}")
        yield tuple(Chunk(x, k, k == count - 1) for x in outputs)
    if k != count - 1:
        raise ValueError(f"a chunked output of {count} pieces ended after {k + 1}")


def single_chunk(steps: Iterable[tuple[Chunk, ...]]) -> tuple[Any, ...]:
    """The outputs of a chunked node called directly for an output of one piece (e.g. the learning
    curve's small generations); more pieces are an error, not a silent truncation."""
    (step,) = list(steps)
    return tuple(chunk.data for chunk in step)


class AtomicStream:
    """A file (or directory) written in pieces, moved onto its target when the last piece is in.

    :meth:`append` checks that pieces arrive in order (piece 0 starts a new temporary path beside
    the target and removes that of an unfinished earlier stream of this object), writes the piece
    and, at the last piece, moves the path into place like :func:`atomic_path`. A piece that fails
    to be written aborts the stream (its temporary path is removed), so no later piece can be
    appended to a file with a piece missing; an unfinished stream's temporary path is removed when
    the stream is collected (the atomic path's own clean-up)."""

    def __init__(self, target: str | os.PathLike, directory: bool = False) -> None:
        self.target, self.directory = Path(target), directory
        self.tmp: Path | None = None
        self.next_index = 0
        self._context: contextlib.AbstractContextManager | None = None

    def append(self, chunk: Chunk, write: Callable[[Path, Any, Chunk], None]) -> None:
        """``write(tmp, data, chunk)`` the piece's data (taken from it; the writer finishes its file
        at ``chunk.last``), then move the file into place at the last piece."""
        if chunk.index == 0:
            self.abort()
            self._context = atomic_path(self.target, self.directory)
            self.tmp = self._context.__enter__()
        elif self.tmp is None or chunk.index != self.next_index:
            raise ValueError(
                f"{self.target}: piece {chunk.index} arrived, expected piece {self.next_index}; "
                "a chunked output starts at piece 0 and takes its pieces in order"
            )
        try:
            write(self.tmp, chunk.take(), chunk)
        except BaseException:
            self.abort()
            raise
        self.next_index = chunk.index + 1
        if chunk.last:
            self.commit()

    def commit(self) -> None:
        context, self._context, self.tmp, self.next_index = self._context, None, None, 0
        if context is not None:
            context.__exit__(None, None, None)

    def abort(self) -> None:
        context, self._context, self.tmp, self.next_index = self._context, None, None, 0
        if context is not None:
            error = RuntimeError("chunked write abandoned")
            with contextlib.suppress(RuntimeError):
                context.__exit__(RuntimeError, error, None)
