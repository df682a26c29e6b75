"""Kedro dataset classes of the project; every save is atomic.

* :class:`DarkMachinesDataset`: Dark Machines text files (``.csv`` / ``.csv.gz``, MeV on disk,
  GeV in memory). ``load`` returns a lazy :class:`DarkMachinesFile` that streams chunks.
* :class:`ParquetTableDataset`: a pandas table in one Parquet file or a Parquet dataset
  partitioned by columns (``partition_cols``), which ``pandas.ParquetDataset`` cannot save.
* :class:`JSONDataset` and :class:`CSVDataset`: small reports.

Each takes ``missing_hint``: the sentence telling a user which command creates the file,
used when a load finds nothing.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError

from lhc_vae.events.darkmachines import (
    DEFAULT_CHUNK_LINES,
    REJECT_COLUMNS,
    ParsedChunk,
    ParsedFile,
    append_darkmachines,
    iter_chunks,
    open_darkmachines,
    read_darkmachines,
    read_darkmachines_files,
    write_darkmachines,
)
from lhc_vae.events.delphes import read_delphes
from lhc_vae.events.schema import EventTables, object_types
from lhc_vae.io import AtomicStream, Chunk, atomic_path

log = logging.getLogger(__name__)


class _FileDataset(AbstractDataset):
    """A local file (or directory) with an atomic save and a helpful error when missing."""

    def __init__(self, filepath: str, missing_hint: str = "", metadata: dict | None = None) -> None:
        self._filepath = Path(filepath)
        self._missing_hint = missing_hint
        self.metadata = metadata

    def _check_exists(self) -> None:
        if not self._filepath.exists():
            raise DatasetError(
                f"{self._filepath} does not exist; {self._missing_hint or 'run the pipeline that creates it'}."
            )

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


@dataclass(frozen=True)
class DarkMachinesFile:
    """A Dark Machines file on disk, read lazily: stream it with :meth:`chunks` or :meth:`read` it."""

    path: Path
    chunk_lines: int = DEFAULT_CHUNK_LINES

    def chunks(self, n_workers: int = 1, scheduler: str | None = None) -> Any:
        """Iterate over :class:`ParsedChunk` objects of ``chunk_lines`` lines each (streamed in this
        process: one file is one task; ``n_workers`` and ``scheduler`` serve a folder)."""
        return iter_chunks(self.path, self.chunk_lines)

    def read(self, progress: bool = False) -> ParsedFile:
        return read_darkmachines(self.path, self.chunk_lines, progress=progress)


@dataclass(frozen=True)
class DarkMachinesFolder:
    """A folder of Dark Machines files of one process (``*.csv``, ``*.csv.gz``; the challenge ships a
    process in several files), read as one sample: :meth:`chunks` parses each file as a Dask task and
    yields one chunk per file, in the order of ``files``."""

    path: Path
    files: tuple[Path, ...]
    chunk_lines: int = DEFAULT_CHUNK_LINES

    def chunks(self, n_workers: int = 1, scheduler: str | None = None) -> Any:
        parsed = read_darkmachines_files(list(self.files), self.chunk_lines, n_workers, scheduler)
        for f in parsed:
            yield ParsedChunk(f.tables.events, f.tables.objects, f.rejects, f.n_lines)


#: What a folder of Dark Machines files may hold.
DARKMACHINES_PATTERNS = ("*.csv", "*.csv.gz")


class DarkMachinesDataset(_FileDataset):
    """Dark Machines event files (thesis §3.2) in the catalog.

    ``load`` returns a :class:`DarkMachinesFile` for ``filepath``, or, when that file does not exist
    and ``folder`` is a folder holding ``*.csv``/``*.csv.gz`` files, a :class:`DarkMachinesFolder`
    of them (sorted by name); both at once is an error, so is an empty file or folder.
    ``save`` takes :class:`EventTables` (GeV) and writes MeV text atomically to ``filepath``, or
    a :class:`~lhc_vae.io.Chunk` of them from a generator node: the file grows piece by piece and
    is moved into place at the last piece (memory holds one piece, issue #14 item 5).
    """

    def __init__(
        self,
        filepath: str,
        folder: str | None = None,
        chunk_lines: int = DEFAULT_CHUNK_LINES,
        missing_hint: str = "",
        metadata: dict | None = None,
    ) -> None:
        super().__init__(filepath, missing_hint, metadata)
        self._folder = Path(folder) if folder else None
        self._chunk_lines = int(chunk_lines)
        self._stream = AtomicStream(filepath)  # the file of a chunked save

    def _folder_files(self) -> tuple[Path, ...] | None:
        if self._folder is None or not self._folder.is_dir():
            return None
        return tuple(sorted({p for pattern in DARKMACHINES_PATTERNS for p in self._folder.glob(pattern)}))

    def load(self) -> DarkMachinesFile | DarkMachinesFolder:
        files = self._folder_files()
        if files is not None and self._filepath.exists():
            raise DatasetError(
                f"both {self._filepath} and the folder {self._folder} exist; "
                "keep one of them as the process's raw events."
            )
        if files is not None:
            if not files:
                raise DatasetError(f"{self._folder} holds no {' or '.join(DARKMACHINES_PATTERNS)} file.")
            return DarkMachinesFolder(self._folder, files, self._chunk_lines)
        self._check_exists()
        if self._filepath.stat().st_size == 0:
            raise DatasetError(f"{self._filepath} is empty; {self._missing_hint or 'regenerate it'}.")
        return DarkMachinesFile(self._filepath, self._chunk_lines)

    def _exists(self) -> bool:
        return self._filepath.exists() or bool(self._folder_files())

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "folder": str(self._folder) if self._folder else None}

    def save(self, data: EventTables | Chunk) -> None:
        if isinstance(data, Chunk):
            self._stream.append(data, self._append)
            return
        if not isinstance(data, EventTables):
            raise DatasetError(f"DarkMachinesDataset saves EventTables, got {type(data).__name__}")
        write_darkmachines(data, self._filepath)

    def _append(self, tmp: Path, tables: Any, chunk: Chunk) -> None:
        if not isinstance(tables, EventTables):
            raise DatasetError(f"DarkMachinesDataset saves EventTables, got {type(tables).__name__}")
        with open_darkmachines(tmp, self._filepath, append=chunk.index > 0) as handle:
            append_darkmachines(handle, tables)


@dataclass(frozen=True)
class DelphesFile:
    """A Delphes ROOT file on disk, read by :meth:`chunks` like a :class:`DarkMachinesFile`: one
    chunk of the events that pass the §3.1 cuts (:func:`lhc_vae.events.delphes.read_delphes`), with
    no rejected lines (an unreadable file stops the read with its name and reason)."""

    path: Path
    process_id: str

    def chunks(self, n_workers: int = 1, scheduler: str | None = None) -> Any:
        sample = read_delphes(self.path, self.process_id)
        log.info(
            "%s: %d entries; %d objects fail the §3.1 object cuts and %d events have no trigger object "
            "(dropped, as the mc pipeline drops them)",
            self.path,
            sample.n_entries,
            sample.n_objects_failing_cuts,
            sample.n_events_failing_selection,
        )
        rejects = pd.DataFrame(columns=list(REJECT_COLUMNS))
        removed = {
            "objects_failing_object_cuts": sample.n_objects_failing_cuts,
            "events_without_trigger_object": sample.n_events_failing_selection,
        }
        yield ParsedChunk(sample.tables.events, sample.tables.objects, rejects, sample.n_entries, removed)


class DelphesDataset(_FileDataset):
    """Delphes ROOT files (``source=delphes``; read-only): ``load`` returns a :class:`DelphesFile`.
    Its events' process ID is the file's name (``data/01_raw/delphes/ttbar.root`` -> ``ttbar``)."""

    def __init__(
        self, filepath: str, folder: str | None = None, missing_hint: str = "", metadata: dict | None = None
    ) -> None:
        super().__init__(filepath, missing_hint, metadata)
        self._folder = Path(folder) if folder else None

    def load(self) -> DelphesFile:
        if not self._filepath.exists() and self._folder is not None and self._folder.is_dir():
            raise DatasetError(
                f"{self._folder} is a folder; Delphes input is one ROOT file per process: join the files "
                f"with ROOT's `hadd {self._filepath} {self._folder}/*.root`."
            )
        self._check_exists()
        return DelphesFile(self._filepath, self._filepath.stem)

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath}: Delphes files are read, not written")


class ParquetFileDataset(_FileDataset):
    """A Parquet table handed to a node as its path, for nodes that read it in record batches
    (training, issue #14 item 4: memory flat in the sample size). Read-only: the table is written
    by its ``ParquetTableDataset`` twin under the same name (Kedro transcoding, ``name@file``), so
    the DAG keeps the edge from the node that writes it."""

    def load(self) -> Path:
        self._check_exists()
        return self._filepath

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath}: a ParquetFileDataset is read-only; save through its table dataset")


class ParquetTableDataset(_FileDataset):
    """A DataFrame as Parquet: one file, or a directory partitioned by ``partition_cols``.

    A ``type`` column comes back as the ordered categorical of the object symbols. ``save`` also
    takes a :class:`~lhc_vae.io.Chunk` of a table from a generator node: the pieces are appended
    (a partitioned table keeps their order in ``_row``) and the output is moved into place at the
    last piece (issue #14 item 5).
    """

    def __init__(
        self,
        filepath: str,
        partition_cols: list[str] | None = None,
        missing_hint: str = "",
        metadata: dict | None = None,
    ) -> None:
        super().__init__(filepath, missing_hint, metadata)
        self._partition_cols = list(partition_cols or [])
        self._stream = AtomicStream(filepath, directory=bool(self._partition_cols))  # a chunked save
        self._writer: pq.ParquetWriter | None = None
        self._rows = 0

    def load(self) -> pd.DataFrame:
        self._check_exists()
        if self._partition_cols:
            part = pads.partitioning(flavor="hive", dictionaries="infer")
            table = pads.dataset(self._filepath, format="parquet", partitioning=part).to_table()
            if "_row" in table.column_names:
                table = table.sort_by("_row").drop_columns(["_row"])
        else:
            table = pq.read_table(self._filepath)
        df = table.to_pandas()
        if "type" in df.columns:
            df["type"] = object_types(df["type"], str(self._filepath))
        return df

    def save(self, data: pd.DataFrame | Chunk) -> None:
        if isinstance(data, Chunk):
            self._save_chunk(data)
            return
        if self._partition_cols:
            with atomic_path(self._filepath, directory=True) as tmp:
                self._write_partitioned(data, tmp, 0, "part-{i}.parquet")
        else:
            table = pa.Table.from_pandas(data, preserve_index=False)
            with atomic_path(self._filepath) as tmp:
                pq.write_table(table, tmp)

    def _write_partitioned(self, data: pd.DataFrame, root: Path, first_row: int, basename: str) -> None:
        table = pa.Table.from_pandas(data, preserve_index=False)
        table = table.append_column("_row", pa.array(np.arange(first_row, first_row + len(data), dtype=np.int64)))
        pq.write_to_dataset(table, root_path=str(root), partition_cols=self._partition_cols, basename_template=basename)

    def _save_chunk(self, chunk: Chunk) -> None:
        if chunk.index == 0 and self._writer is not None:  # an earlier chunked save never got its last piece
            self._writer.close()
            self._writer = None
        self._stream.append(chunk, self._append)

    def _append(self, tmp: Path, data: pd.DataFrame, chunk: Chunk) -> None:
        if chunk.index == 0:
            self._rows = 0
        if self._partition_cols:
            self._write_partitioned(data, tmp, self._rows, f"part-{chunk.index:06d}-{{i}}.parquet")
        else:
            if self._writer is None:
                table = pa.Table.from_pandas(data, preserve_index=False)
                self._writer = pq.ParquetWriter(tmp, table.schema)
            else:
                table = pa.Table.from_pandas(data, schema=self._writer.schema, preserve_index=False)
            self._writer.write_table(table)
            if chunk.last:  # the footer, before the file is moved into place
                self._writer.close()
                self._writer = None
        self._rows += len(data)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "partition_cols": self._partition_cols}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _finite_floats(value: Any) -> Any:
    """Replace non-finite floats by None so the JSON stays standard."""
    if isinstance(value, dict):
        return {k: _finite_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_floats(v) for v in value]
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    return value


class JSONDataset(_FileDataset):
    """A JSON document, written atomically and with standard JSON only (no NaN).

    With ``optional: true`` a missing file loads as None (e.g. a benchmark not run yet).
    """

    def __init__(
        self, filepath: str, missing_hint: str = "", optional: bool = False, metadata: dict | None = None
    ) -> None:
        super().__init__(filepath, missing_hint, metadata)
        self._optional = optional

    def load(self) -> Any:
        if self._optional and not self._filepath.exists():
            return None
        self._check_exists()
        return json.loads(self._filepath.read_text())

    def save(self, data: Any) -> None:
        if isinstance(data, Chunk):  # a generator node's running summary: the last piece is the whole
            if not data.last:
                return
            data = data.data
        with atomic_path(self._filepath) as tmp:
            tmp.write_text(json.dumps(_finite_floats(data), indent=2, default=_json_default) + "\n")


class CSVDataset(_FileDataset):
    """A small CSV table (empty cells stay empty strings), written atomically; the loaded frame
    knows its file in ``df.attrs['filepath']`` (the preprocessing's reject error names it)."""

    def load(self) -> pd.DataFrame:
        self._check_exists()
        df = pd.read_csv(self._filepath, keep_default_na=False)
        df.attrs["filepath"] = str(self._filepath)
        return df

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self._filepath) as tmp:
            data.to_csv(tmp, index=False)


class KerasModelDataset(_FileDataset):
    """A Keras model as a ``.keras`` file (Keras 3), saved atomically, loaded uncompiled.

    A missing file raises one sentence naming the file and the command that trains the model.
    """

    def load(self) -> Any:
        import keras

        import lhc_vae.models.variators  # noqa: F401  (registers the project's layers)

        if not self._filepath.is_file():
            raise DatasetError(f"{self._filepath} does not exist; {self._missing_hint or 'train the model first'}.")
        try:  # safe_mode: a Lambda layer's code is refused, only registered layers load
            return keras.saving.load_model(self._filepath, compile=False, safe_mode=True)
        except ValueError as err:
            raise DatasetError(f"{self._filepath}: refused to load ({err})") from err

    def save(self, data: Any) -> None:
        target = self._filepath
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.stem}.tmp.keras")
        data.save(tmp)
        tmp.replace(target)

    def _exists(self) -> bool:
        return self._filepath.is_file()


class ComponentDataset(_FileDataset):
    """One trained VAE component: a directory with ``encoder.keras``, ``decoder.keras`` and
    ``training.json``; loads and saves the dict ``{"encoder", "decoder", "training"}`` (atomic)."""

    def load(self) -> dict[str, Any]:
        self._check_exists()
        return {
            "encoder": KerasModelDataset(str(self._filepath / "encoder.keras")).load(),
            "decoder": KerasModelDataset(str(self._filepath / "decoder.keras")).load(),
            "training": json.loads((self._filepath / "training.json").read_text()),
        }

    def save(self, data: dict[str, Any]) -> None:
        with atomic_path(self._filepath, directory=True) as tmp:
            data["encoder"].save(tmp / "encoder.keras")
            data["decoder"].save(tmp / "decoder.keras")
            (tmp / "training.json").write_text(
                json.dumps(_finite_floats(data["training"]), indent=2, default=_json_default)
            )


class TextDataset(_FileDataset):
    """A text file (the HTML report), written atomically."""

    def load(self) -> str:
        self._check_exists()
        return self._filepath.read_text()

    def save(self, data: str) -> None:
        with atomic_path(self._filepath) as tmp:
            tmp.write_text(data)


class LatentPriorDataset(_FileDataset):
    """A fitted latent prior (:func:`lhc_vae.pipelines.vae.nodes.fit_latent_prior`) as one ``.npz``
    file of plain arrays and a JSON header, written atomically.

    Trained models are passed around between physicists, so loading one must never run code: the
    file is read with ``allow_pickle=False`` (no Python objects), and a file that is not such an
    archive, or that holds pickled objects, is refused with an error naming it. Nested dicts of
    arrays (the BGMM's ``mixture``, the truth prior's ``inputs``) are stored under ``a/b`` keys;
    every other value (kind, latent size, sigmas, active dimensions) goes into the JSON header.
    """

    HEADER = "__header__.json"

    def load(self) -> dict[str, Any]:
        self._check_exists()
        try:
            loaded = np.load(self._filepath, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ValueError("a single array, not an .npz archive")
            with loaded as archive:
                arrays = {key: archive[key] for key in archive.files}
            header = json.loads(str(arrays.pop(self.HEADER)))
            if not isinstance(header, dict):
                raise ValueError("its header is not a JSON object")
        except (ValueError, OSError, KeyError, TypeError, json.JSONDecodeError) as err:
            raise DatasetError(
                f"{self._filepath}: not a latent prior written by lhc-vae ({err}); priors are read without "
                f"pickle, so a file holding Python objects is refused. {self._missing_hint or 'Fit it again'}."
            ) from err
        prior: dict[str, Any] = dict(header)
        for key, value in arrays.items():
            *parents, leaf = key.split("/")
            node = prior
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = value
        return prior

    def save(self, data: dict[str, Any]) -> None:
        header: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}

        def flatten(node: dict[str, Any], prefix: str, head: dict[str, Any]) -> None:
            for key, value in node.items():
                if "/" in key or key == self.HEADER:
                    raise DatasetError(f"{self._filepath}: prior key {key!r} cannot be stored")
                if isinstance(value, np.ndarray):
                    if value.dtype == object:
                        raise DatasetError(f"{self._filepath}: prior entry {prefix}{key} holds Python objects")
                    arrays[f"{prefix}{key}"] = value
                elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
                    flatten(value, f"{prefix}{key}/", {})
                else:
                    head[key] = value

        flatten(data, "", header)
        arrays[self.HEADER] = np.asarray(json.dumps(_finite_floats(header), default=_json_default))
        with atomic_path(self._filepath) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


__all__ = [
    "CSVDataset",
    "ComponentDataset",
    "DarkMachinesDataset",
    "DarkMachinesFile",
    "DelphesDataset",
    "DelphesFile",
    "JSONDataset",
    "KerasModelDataset",
    "LatentPriorDataset",
    "ParquetTableDataset",
    "ParsedChunk",
    "TextDataset",
]
