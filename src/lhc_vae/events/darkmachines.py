"""Reader and writer of the Dark Machines event format (thesis §3.2).

One event per line::

    event ID;process ID;event weight;MET;METphi;obj,E,pt,eta,phi;obj,E,pt,eta,phi;...

Energies and momenta are in MeV in the files and in GeV inside the project. Object features
are float32 in memory (the files carry about six significant digits, and Delphes itself
stores float32); event-level values are float64. Lines may end
with ``;``; numbers may be written plainly or in scientific notation; event IDs need not be
unique; objects may come in any order.

The reader streams the file in chunks of lines (plain text or gzip) and parses each chunk
with vectorised Arrow kernels, so memory stays bounded by the chunk size and the tables it
returns. A malformed line never stops the read and is never silently dropped: it is
rejected, and the rejection (file, line number, reason, start of the line) is returned.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lhc_vae.cluster import dask_client
from lhc_vae.events.schema import (
    FAMILY,
    MEV_PER_GEV,
    SYMBOLS,
    TYPE_DTYPE,
    EventTables,
)
from lhc_vae.events.split import concat_tables
from lhc_vae.io import atomic_path

#: Angles may exceed pi by this much from rounding in the text (|phi| <= pi + tolerance).
PHI_TOLERANCE = 1e-5
#: E may be below pT by this relative amount from rounding in the text ...
E_PT_REL_TOLERANCE = 1e-4
#: ... or by this absolute amount in GeV (1 MeV, the files' last printed digit).
E_PT_ABS_TOLERANCE_GEV = 1e-3
#: Characters of a rejected line kept in the rejects report.
LINE_START_CHARS = 80
#: Default number of lines parsed at once.
DEFAULT_CHUNK_LINES = 50_000

_NUMBER = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|nan|inf|infinity)$"
_INTEGER = r"^[+-]?\d+$"
_N_HEADER = 5
_PLACEHOLDER_LINE = "0;_;0;0;0"
_PLACEHOLDER_OBJECT = "j,0,0,0,0"

REJECT_COLUMNS = ("file", "line", "reason", "line_start")


class MissingInputError(FileNotFoundError):
    """A raw input file is missing or empty; the message names the command that creates it."""


@dataclass
class ParsedChunk:
    """Accepted events and objects of a chunk of lines (GeV), and the rejected lines."""

    events: pd.DataFrame
    objects: pd.DataFrame
    rejects: pd.DataFrame
    n_lines: int
    #: counts of what a reader removed on purpose (a Delphes file's §3.1 cuts), for the report
    removed: dict[str, int] = field(default_factory=dict)


@dataclass
class ParsedFile:
    """A whole parsed file: tables in GeV, rejected lines and the count of lines read."""

    tables: EventTables
    rejects: pd.DataFrame
    n_lines: int
    path: str = ""

    @property
    def n_rejected(self) -> int:
        return len(self.rejects)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline=None)
    return open(path, encoding="utf-8", errors="replace", newline=None)


def _float_column(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Cast strings to float64; returns (values, is_number). Non-numbers become NaN."""
    try:
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), np.ones(len(values), bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.match_substring_regex(values, _NUMBER).to_numpy(zero_copy_only=False)
        cleaned = pc.if_else(pa.array(ok), values, "nan")
        return pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False), ok


def _first_reason(reasons: list[tuple[np.ndarray, np.ndarray | str]], n: int) -> np.ndarray:
    """Per line, the first reason whose mask is set (empty string when none is)."""
    out = np.full(n, "", dtype=object)
    for mask, text in reversed(reasons):
        out = np.where(mask, text, out)
    return out


def _object_reasons(codes: np.ndarray, parents: np.ndarray, rank: np.ndarray, n_lines: int) -> np.ndarray:
    """Reduce per-object failure messages to the first failing object of each line."""
    out = np.full(n_lines, "", dtype=object)
    bad = np.flatnonzero(codes != "")
    if bad.size:
        lines, first = np.unique(parents[bad], return_index=True)
        idx = bad[first]
        out[lines] = [f"object {r + 1}: {c}" for r, c in zip(rank[idx], codes[idx], strict=True)]
    return out


@dataclass(frozen=True)
class _Objects:
    """The object fields of a chunk (GeV), each with the line it belongs to (``parents``), and the
    first reason per line that one of its objects is malformed (empty string: none)."""

    parents: np.ndarray
    symbols: np.ndarray
    e: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    line_reason: np.ndarray


def _parse_objects(fields: pa.Array, n: int) -> _Objects:
    """Every field after the fifth of each of the ``n`` lines' ``fields``: one object each."""
    obj_lists = pc.list_slice(fields, _N_HEADER)
    obj_text = pc.utf8_trim_whitespace(pc.list_flatten(obj_lists))
    parents = pc.list_parent_indices(obj_lists).to_numpy()
    n_per_line = pc.list_value_length(obj_lists).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.cumsum(n_per_line)[:-1]])
    rank = np.arange(len(parents)) - starts[parents] if len(parents) else np.zeros(0, np.int64)
    n_parts = pc.add(pc.count_substring(obj_text, ","), 1).to_numpy(zero_copy_only=False)
    parts_ok = n_parts == 5
    obj_text = pc.if_else(pa.array(parts_ok), obj_text, _PLACEHOLDER_OBJECT)
    parts = pc.split_pattern(obj_text, ",")
    symbol = pc.utf8_trim_whitespace(pc.list_element(parts, 0))
    symbol_ok = pc.is_in(symbol, value_set=pa.array(SYMBOLS)).to_numpy(zero_copy_only=False)
    feats = []
    feats_ok = np.ones(len(parents), dtype=bool)
    for i in range(1, 5):
        values, ok = _float_column(pc.utf8_trim_whitespace(pc.list_element(parts, i)))
        feats.append(values)
        feats_ok &= ok
    e, pt, eta, phi = (v / MEV_PER_GEV if k < 2 else v for k, v in enumerate(feats))
    finite = np.isfinite(e) & np.isfinite(pt) & np.isfinite(eta) & np.isfinite(phi)
    with np.errstate(invalid="ignore"):
        negative = (e < 0) | (pt < 0)
        phi_out = np.abs(phi) > np.pi + PHI_TOLERANCE
        e_below_pt = e < pt - np.maximum(E_PT_REL_TOLERANCE * pt, E_PT_ABS_TOLERANCE_GEV)

    sym_np = symbol.to_numpy(zero_copy_only=False)
    obj_codes = _first_reason(
        [
            (~parts_ok, np.char.add(np.char.add("has ", n_parts.astype(str)), " comma-separated fields, expected 5")),
            (~symbol_ok, np.char.add(np.char.add("unknown symbol '", sym_np.astype(str)), "'")),
            (~feats_ok, "non-numeric value"),
            (~finite, "non-finite value"),
            (negative, "negative energy or pT"),
            (phi_out, "|phi| > pi"),
            (e_below_pt, "E smaller than pT"),
        ],
        len(parents),
    )
    line_obj_reason = _object_reasons(obj_codes, parents, rank, n)

    return _Objects(parents, sym_np, e, pt, eta, phi, line_obj_reason)


def parse_lines(lines: list[str], first_line_number: int = 1, source: str = "") -> ParsedChunk:
    """Parse Dark Machines lines (without or with their newline) into GeV tables.

    Args:
        lines: the text lines of one chunk.
        first_line_number: 1-based number of ``lines[0]`` in its file, for the rejects report.
        source: file name written in the rejects report.

    Returns:
        A :class:`ParsedChunk`; ``events`` carries the ``line`` each event came from and
        ``objects.event_index`` indexes the chunk's accepted events.
    """
    n = len(lines)
    raw = pa.array(lines, type=pa.large_string())
    text = pc.replace_substring_regex(pc.utf8_rtrim_whitespace(raw), r";\s*$", "")
    n_fields = pc.add(pc.count_substring(text, ";"), 1).to_numpy(zero_copy_only=False)
    is_empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(zero_copy_only=False)
    short = (n_fields < _N_HEADER) & ~is_empty
    usable = ~(short | is_empty)
    text = pc.if_else(pa.array(usable), text, _PLACEHOLDER_LINE)
    fields = pc.split_pattern(text, ";")

    header = [pc.utf8_trim_whitespace(pc.list_element(fields, i)) for i in range(_N_HEADER)]
    id_ok = pc.match_substring_regex(header[0], _INTEGER).to_numpy(zero_copy_only=False)
    event_id = pc.cast(pc.if_else(pa.array(id_ok), header[0], "0"), pa.int64()).to_numpy()
    process_id = header[1]
    weight, weight_ok = _float_column(header[2])
    met, met_ok = _float_column(header[3])
    met_phi, met_phi_ok = _float_column(header[4])

    obj = _parse_objects(fields, n)
    parents, sym_np, e, pt, eta, phi = obj.parents, obj.symbols, obj.e, obj.pt, obj.eta, obj.phi
    line_obj_reason = obj.line_reason

    met_gev = met / MEV_PER_GEV
    with np.errstate(invalid="ignore"):
        header_reasons = [
            (is_empty, "empty line"),
            (
                short,
                np.char.add(np.char.add("has ", n_fields.astype(str)), " ';'-separated fields, expected at least 5"),
            ),
            (usable & ~id_ok, "event ID is not an integer"),
            (usable & ~(weight_ok & met_ok & met_phi_ok), "non-numeric weight, MET or METphi"),
            (
                usable & ~(np.isfinite(weight) & np.isfinite(met) & np.isfinite(met_phi)),
                "non-finite weight, MET or METphi",
            ),
            (usable & (met_gev < 0), "negative MET"),
            (usable & (np.abs(met_phi) > np.pi + PHI_TOLERANCE), "|METphi| > pi"),
        ]
    reason = _first_reason(header_reasons, n)
    reason = np.where(reason == "", line_obj_reason, reason)
    rejected = reason != ""
    keep = ~rejected

    rej_idx = np.flatnonzero(rejected)
    rejects = pd.DataFrame(
        {
            "file": source,
            "line": first_line_number + rej_idx,
            "reason": reason[rej_idx].astype(str),
            "line_start": [lines[i].rstrip("\r\n")[:LINE_START_CHARS] for i in rej_idx],
        },
        columns=list(REJECT_COLUMNS),
    )

    new_index = np.cumsum(keep) - 1
    events = pd.DataFrame(
        {
            "event_id": event_id[keep],
            "process_id": pd.array(process_id.to_numpy(zero_copy_only=False)[keep], dtype="string"),
            "weight": weight[keep],
            "met": met_gev[keep],
            "met_phi": np.clip(met_phi[keep], -np.pi, np.pi),
            "line": first_line_number + np.flatnonzero(keep),
        }
    )
    obj_keep = keep[parents] if len(parents) else np.zeros(0, bool)
    objects = pd.DataFrame(
        {
            "event_index": new_index[parents[obj_keep]].astype(np.int64),
            "type": pd.Categorical(sym_np[obj_keep], dtype=TYPE_DTYPE),
            "e": e[obj_keep].astype(np.float32),
            "pt": pt[obj_keep].astype(np.float32),
            "eta": eta[obj_keep].astype(np.float32),
            "phi": np.clip(phi[obj_keep], -np.pi, np.pi).astype(np.float32),
        }
    )
    return ParsedChunk(events=events, objects=objects, rejects=rejects, n_lines=n)


def iter_chunks(path: str | os.PathLike, chunk_lines: int = DEFAULT_CHUNK_LINES) -> Iterator[ParsedChunk]:
    """Stream a Dark Machines file (``.csv`` or ``.csv.gz``) chunk by chunk."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"Raw event file {path} does not exist.")
    line_number = 1
    with _open_text(path) as handle:
        while True:
            lines = list(itertools.islice(handle, chunk_lines))
            if not lines:
                break
            yield parse_lines(lines, first_line_number=line_number, source=str(path))
            line_number += len(lines)


def concat_chunks(chunks: list[ParsedChunk]) -> tuple[EventTables, pd.DataFrame, int]:
    """Join chunks into one sample, renumbering ``event_index`` globally (:func:`concat_tables`)."""
    if not chunks:
        return EventTables(_empty_events(), _empty_objects()), _empty_rejects(), 0
    tables = concat_tables([EventTables(c.events, c.objects) for c in chunks])
    rejects = pd.concat([c.rejects for c in chunks], ignore_index=True)
    return tables, rejects, sum(c.n_lines for c in chunks)


def read_darkmachines(
    path: str | os.PathLike, chunk_lines: int = DEFAULT_CHUNK_LINES, progress: bool = False
) -> ParsedFile:
    """Read a whole Dark Machines file into GeV tables (streamed chunk by chunk)."""
    chunks = iter_chunks(path, chunk_lines)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"parsing {Path(path).name}", unit="chunk")
    tables, rejects, n_lines = concat_chunks(list(chunks))
    return ParsedFile(tables=tables, rejects=rejects, n_lines=n_lines, path=str(path))


def _read_one(path: Path, chunk_lines: int) -> ParsedFile:
    """:func:`read_darkmachines` of one file of a folder; an unreadable file (a truncated ``.gz``)
    is named in the error."""
    try:
        return read_darkmachines(path, chunk_lines)
    except (OSError, EOFError, UnicodeError) as err:
        raise OSError(f"{path}: cannot be read ({type(err).__name__}: {err})") from err


def read_darkmachines_files(
    paths: list[Path], chunk_lines: int = DEFAULT_CHUNK_LINES, n_workers: int = 1, scheduler: str | None = None
) -> list[ParsedFile]:
    """Parse several Dark Machines files (a process shipped in several files, or a big file split),
    each file one Dask task, on a LocalCluster of ``n_workers`` processes or the cluster at
    ``scheduler`` (:func:`lhc_vae.cluster.dask_client`); in this process when one worker is asked
    for and no scheduler. Returns the files in the order of ``paths``; every rejected line keeps its
    file and line number. Paths are made absolute (remote workers share the file system, not the
    working directory), and each task's key names the file's path, size and time, so two runs on a
    shared scheduler never take each other's results."""
    paths = [Path(p).resolve() for p in paths]
    if n_workers <= 1 and not scheduler:
        return [_read_one(p, chunk_lines) for p in paths]
    with dask_client(n_workers, scheduler) as client:
        futures = []
        for p in paths:
            stat = p.stat()
            tag = hashlib.sha1(f"{p}:{stat.st_size}:{stat.st_mtime_ns}:{chunk_lines}".encode()).hexdigest()[:12]
            futures.append(client.submit(_read_one, p, chunk_lines, key=f"parse-{p.name}-{tag}", pure=False))
        return client.gather(futures)


def _empty_events() -> pd.DataFrame:
    return parse_lines([]).events


def _empty_objects() -> pd.DataFrame:
    return parse_lines([]).objects


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(columns=list(REJECT_COLUMNS))


def _number_strings(values: np.ndarray, dtype: type = np.float64) -> pa.Array:
    """Shortest decimal text that reads back to the same ``dtype`` value."""
    return pc.cast(pa.array(np.asarray(values, dtype=dtype)), pa.string())


def format_lines(tables: EventTables) -> pa.Array:
    """Format events as Dark Machines lines (MeV, objects in Dark Machines order), no newline.

    Objects are written jets and b-jets interleaved by decreasing pT, then electrons,
    muons and photons, each by decreasing pT (thesis §3.2).
    """
    events, objects = tables.events, tables.objects
    n = len(events)
    ev_idx = objects["event_index"].to_numpy()
    family = objects["type"].map(FAMILY).astype(np.int64).to_numpy()
    order = np.lexsort((-objects["pt"].to_numpy(), family, ev_idx))
    obj = objects.iloc[order]
    symbol = pa.array(obj["type"].astype(str).to_numpy(), type=pa.string())
    obj_text = pc.binary_join_element_wise(
        symbol,
        _number_strings(obj["e"].to_numpy(np.float64) * MEV_PER_GEV, np.float32),
        _number_strings(obj["pt"].to_numpy(np.float64) * MEV_PER_GEV, np.float32),
        _number_strings(obj["eta"].to_numpy(), np.float32),
        _number_strings(obj["phi"].to_numpy(), np.float32),
        ",",
    )
    counts = np.bincount(ev_idx, minlength=n)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    per_event = pc.binary_join(pa.ListArray.from_arrays(offsets, obj_text), ";")
    event_id = events["event_id"] if "event_id" in events else pd.Series(np.arange(n))
    process_id = events["process_id"] if "process_id" in events else pd.Series(["unknown"] * n)
    weight = events["weight"] if "weight" in events else pd.Series(np.ones(n))
    head = pc.binary_join_element_wise(
        pc.cast(pa.array(event_id.to_numpy(dtype=np.int64)), pa.string()),
        pa.array(process_id.astype(str).to_numpy(), type=pa.string()),
        _number_strings(weight.to_numpy()),
        _number_strings(events["met"].to_numpy() * MEV_PER_GEV),
        _number_strings(events["met_phi"].to_numpy()),
        ";",
    )
    line = pc.binary_join_element_wise(head, per_event, ";")
    # Events without objects end with the header; every line ends with ';' like the challenge files.
    return pc.binary_join_element_wise(pc.if_else(pc.equal(counts, 0), head, line), ";", "")


@contextlib.contextmanager
def open_darkmachines(
    path: str | os.PathLike, target: str | os.PathLike | None = None, append: bool = False
) -> Iterator[TextIO]:
    """A text handle to write (or ``append``) Dark Machines lines to ``path``, gzip when ``target``
    (default: the path itself) ends in ``.gz``: members without a name or a time stamp, so the same
    events give the same bytes (appended members read as one stream)."""
    mode = "ab" if append else "wb"
    if Path(target or path).suffix != ".gz":
        with open(path, mode[0] + "t", encoding="utf-8", newline="\n") as handle:
            yield handle
        return
    with (
        open(path, mode) as raw,
        gzip.GzipFile(filename="", mode=mode, fileobj=raw, mtime=0) as compressed,
        io.TextIOWrapper(compressed, encoding="utf-8", newline="\n") as handle,
    ):
        yield handle


def append_darkmachines(handle: TextIO, tables: EventTables, chunk_events: int = 500_000) -> None:
    """Write ``tables`` to an open Dark Machines handle, ``chunk_events`` lines formatted at a time."""
    n = tables.n_events
    ev_index = tables.objects["event_index"].to_numpy()
    order = np.argsort(ev_index, kind="stable")
    bounds = np.searchsorted(ev_index[order], np.arange(0, n + chunk_events, chunk_events))
    for k, start in enumerate(range(0, n, chunk_events)):
        stop = min(start + chunk_events, n)
        objs = tables.objects.iloc[order[bounds[k] : bounds[k + 1]]]
        chunk = EventTables(
            tables.events.iloc[start:stop].reset_index(drop=True),
            objs.assign(event_index=objs["event_index"] - start),
        )
        lines = format_lines(chunk).to_pylist()
        if lines:
            handle.write("\n".join(lines))
            handle.write("\n")


def write_darkmachines(tables: EventTables, path: str | os.PathLike, chunk_events: int = 500_000) -> None:
    """Write events to a Dark Machines file atomically (gzip when the name ends in ``.gz``)."""
    with atomic_path(path) as tmp, open_darkmachines(tmp, path) as handle:
        append_darkmachines(handle, tables, chunk_events)
