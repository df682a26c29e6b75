"""Atomic file output: a reader never sees a half-written file or directory, also when the file is
written in pieces (:class:`Chunk`, :class:`AtomicStream`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
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


@dataclass(frozen=True)
class Chunk:
    """One piece of an output written piece by piece (issue #14 item 5).

    A Kedro node that is a generator function yields one value per output per step, and Kedro saves
    each value as it comes; the project's datasets take a ``Chunk`` as "append this piece", start the
    file at ``index`` 0 and move it into place at the ``last`` piece, so a reader never sees a
    half-written output and memory holds one piece at a time."""

    data: Any
    index: int
    last: bool


def chunked(steps: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Chunk, ...]]:
    """Wrap the outputs of each step of a generator node in :class:`Chunk`, marking the last step."""
    previous = None
    for k, outputs in enumerate(steps):
        if previous is not None:
            yield tuple(Chunk(x, k - 1, False) for x in previous)
        previous = outputs
    if previous is None:
        raise ValueError("a chunked output needs at least one piece")
    yield tuple(Chunk(x, k, True) for x in previous)


def single_chunk(steps: Iterable[tuple[Chunk, ...]]) -> tuple[Any, ...]:
    """The outputs of a chunked node called directly for an output of one piece (e.g. the learning
    curve's small generations); more pieces are an error, not a silent truncation."""
    (step,) = list(steps)
    return tuple(chunk.data for chunk in step)


class AtomicStream:
    """A file (or directory) written in pieces, moved onto its target when the last piece is in.

    :meth:`begin` opens the temporary path (and removes the one of an earlier, unfinished stream of
    this object); :meth:`commit` moves it into place like :func:`atomic_path`; :meth:`abort` removes
    it. :meth:`expect` checks that pieces arrive in order, so a piece is never appended twice."""

    def __init__(self, target: str | os.PathLike, directory: bool = False) -> None:
        self.target, self.directory = Path(target), directory
        self.tmp: Path | None = None
        self.next_index = 0
        self._context: contextlib.AbstractContextManager | None = None

    def expect(self, chunk: Chunk) -> None:
        if chunk.index == 0:
            self.abort()
            self._context = atomic_path(self.target, self.directory)
            self.tmp = self._context.__enter__()
        elif self.tmp is None or chunk.index != self.next_index:
            raise ValueError(
                f"{self.target}: piece {chunk.index} arrived, expected piece {self.next_index}; "
                "a chunked output starts at piece 0 and takes its pieces in order"
            )
        self.next_index = chunk.index + 1

    def __del__(self) -> None:  # a stream never finished (its node failed) leaves no temporary file
        with contextlib.suppress(Exception):
            self.abort()

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
