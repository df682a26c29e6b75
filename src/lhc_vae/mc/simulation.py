"""Pythia8 events -> FastJet anti-kT jets -> parametrised ATLAS response -> §3.1 selection.

The chain of the Dark Machines challenge (thesis §3.1) was MadGraph5 + Pythia8 + Delphes with
the ATLAS card; here Pythia8 generates the hard process and the shower, FastJet clusters the
jets and :mod:`lhc_vae.mc.detector` applies the card's efficiencies, isolation, resolutions and
b-tagging. Work is cut into fixed blocks of events, each with its own Pythia8 instance seeded
from (seed, block number), so the same parameters give the same file on any number of cores.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from lhc_vae.cluster import dask_client, default_workers
from lhc_vae.events.schema import TYPE_DTYPE, EventTables
from lhc_vae.events.selection import evaluate_selection, object_passes_cuts
from lhc_vae.events.split import concat_tables
from lhc_vae.io import atomic_path
from lhc_vae.mc import detector as det

INVISIBLE = frozenset({12, 14, 16, 1000022})  # neutrinos and the lightest neutralino
_QUIET = [
    "Print:quiet = on",
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Random:setSeed = on",
]
_MAX_PYTHIA_SEED = 900_000_000


class NotEnoughEventsError(RuntimeError):
    """The blocks allowed for a run hold fewer accepted events than asked for."""


@dataclass
class BlockResult:
    """Accepted events of one block, with what it cost. A block kept on disk may be held without its
    tables (``events`` and ``objects`` None, ``n_accepted`` from the file): :func:`block_tables`
    reads them when they are written out."""

    block: int
    events: pd.DataFrame | None
    objects: pd.DataFrame | None
    n_tried: int
    sigma_pb: float
    sigma_err_pb: float
    seconds: float  # the whole block, Pythia8's initialisation included
    init_seconds: float = 0.0  # Pythia8's initialisation alone (once per block)
    n_accepted: int = -1

    def __post_init__(self) -> None:
        if self.events is not None:
            self.n_accepted = len(self.events)


#: Events of consecutive blocks joined into one piece of the output file (memory holds one piece).
PIECE_EVENTS = 100_000


def block_seed(seed: int, block: int) -> int:
    """Pythia8 seed of a block (1 .. 900 000 000), derived from the global seed."""
    return int(np.random.SeedSequence([int(seed), int(block)]).generate_state(1)[0] % (_MAX_PYTHIA_SEED - 1)) + 1


def _make_pythia(settings: list[str], seed: int) -> Any:
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in [*_QUIET, *settings, f"Random:seed = {seed}"]:
        if not pythia.readString(line):
            raise ValueError(f"Pythia8 rejected the setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia8 failed to initialise with settings {settings}")
    return pythia


def _event_arrays(event: Any) -> tuple[det.Particles, np.ndarray]:
    """Visible final-state particles and heavy-flavour partons (|id| 4, 5) of a Pythia event."""
    rows = []
    partons = []
    for p in event:
        if p.isFinal():
            if p.idAbs() not in INVISIBLE:
                rows.append((p.id(), p.px(), p.py(), p.pz(), p.e()))
        elif p.idAbs() in (4, 5) and p.pT() > 5.0:
            partons.append((p.idAbs(), p.eta(), p.phi()))
    a = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    particles = det.Particles(a[:, 0].astype(np.int64), a[:, 1], a[:, 2], a[:, 3], a[:, 4])
    return particles, np.asarray(partons, dtype=np.float64).reshape(-1, 3)


def reconstruct(
    particles: det.Particles, partons: np.ndarray, cfg: dict[str, Any], rng: np.random.Generator
) -> tuple[list[tuple[str, float, float, float, float]], float, float]:
    """Detector-level objects (symbol, E, pT, eta, phi) and (MET, METphi) of one event."""
    import fastjet

    pt, eta, phi = particles.pt, particles.eta, particles.phi
    abs_pid = np.abs(particles.pid)
    in_calo = np.abs(eta) < cfg["calorimeter_eta_max"]
    objects: list[tuple[str, float, float, float, float]] = []
    sum_px = sum_py = 0.0  # visible transverse momentum seen by the detector
    used = np.zeros(len(pt), dtype=bool)

    # Isolated electrons, muons and photons (efficiency, isolation, resolution of the card).
    track = pt > cfg["isolation"]["pt_min"]
    for pdg, kind in ((11, "electron"), (13, "muon"), (22, "photon")):
        k = cfg[kind]
        cand = np.flatnonzero((abs_pid == pdg) & (pt > k["pt_min"]))
        if cand.size == 0:
            continue
        dr = det.delta_r(eta[cand], phi[cand], eta[track], phi[track])
        cone = (dr < cfg["isolation"]["delta_r"]) & (dr > 1e-9)
        iso = (cone * pt[track][None, :]).sum(axis=1) / pt[cand]
        eff = det.binned(eta[cand], k["efficiency"]["eta_edges"], k["efficiency"]["values"])
        found = cand[(iso <= k["isolation_max"]) & (rng.random(cand.size) < eff)]
        if found.size == 0:
            continue
        if kind == "muon":
            rel = det.tracker_sigma_over_pt(pt[found], np.abs(eta[found]), k["resolution"])
            scale = np.maximum(1.0 + rel * rng.standard_normal(found.size), 0.0)
        else:
            sigma = det.calorimeter_sigma(particles.e[found], np.abs(eta[found]), k["resolution"])
            scale = det.smear_energy(particles.e[found], sigma, rng) / particles.e[found]
        used[found] = True
        for i, s in zip(found, scale, strict=True):
            symbol = "g" if pdg == 22 else ("e" if pdg == 11 else "m") + ("-" if particles.pid[i] > 0 else "+")
            objects.append((symbol, particles.e[i] * s, pt[i] * s, eta[i], phi[i]))
            sum_px += particles.px[i] * s
            sum_py += particles.py[i] * s

    # Jets: anti-kT on the remaining calorimeter particles (muons pass through the calorimeter).
    jet_input = np.flatnonzero(in_calo & ~used & (abs_pid != 13))
    sum_px += particles.px[jet_input].sum()
    sum_py += particles.py[jet_input].sum()
    pseudo = [fastjet.PseudoJet(particles.px[i], particles.py[i], particles.pz[i], particles.e[i]) for i in jet_input]
    jcfg = cfg["jet"]
    sequence = fastjet.ClusterSequence(pseudo, fastjet.JetDefinition(fastjet.antikt_algorithm, jcfg["R"]))
    jets = sequence.inclusive_jets(jcfg["pt_min_cluster"])
    if jets:
        jp = np.array([(j.px(), j.py(), j.pz(), j.e()) for j in jets])
        jpt = np.hypot(jp[:, 0], jp[:, 1])
        jeta = np.arcsinh(jp[:, 2] / jpt)
        jphi = np.arctan2(jp[:, 1], jp[:, 0])
        sigma = det.calorimeter_sigma(jp[:, 3], np.abs(jeta), jcfg["resolution"])
        scale = det.smear_energy(jp[:, 3], sigma, rng) / jp[:, 3]
        flavour = np.zeros(len(jets), dtype=np.int64)
        for fl in (4, 5):  # b overrides c: the hardest heavy parton within Delta R
            sel = partons[:, 0] == fl
            if sel.any():
                near = det.delta_r(jeta, jphi, partons[sel, 1], partons[sel, 2]) < cfg["btag"]["delta_r"]
                flavour[near.any(axis=1)] = fl
        tag_prob = det.btag_efficiency(jpt * scale, flavour, cfg["btag"]) * (np.abs(jeta) < cfg["btag"]["eta_max"])
        tagged = rng.random(len(jets)) < tag_prob
        for k in range(len(jets)):
            objects.append(("b" if tagged[k] else "j", jp[k, 3] * scale[k], jpt[k] * scale[k], jeta[k], jphi[k]))
        sum_px += (jp[:, 0] * (scale - 1.0)).sum()
        sum_py += (jp[:, 1] * (scale - 1.0)).sum()

    return objects, float(np.hypot(sum_px, sum_py)), float(np.arctan2(-sum_py, -sum_px))


def simulate_block(args: tuple[int, int, str, list[str], dict[str, Any], int]) -> BlockResult:
    """Generate ``block_size`` events of block ``block`` and keep those passing thesis §3.1."""
    block, block_size, process_id, settings, detector_cfg, seed = args
    start = time.perf_counter()
    pythia = _make_pythia(settings, block_seed(seed, block))
    init_seconds = time.perf_counter() - start
    rng = np.random.default_rng([int(seed), int(block), 1])
    event_ids, mets, met_phis, rows = [], [], [], []
    n_tried = 0
    while n_tried < block_size:
        if not pythia.next():
            continue
        particles, partons = _event_arrays(pythia.event)
        objects, met, met_phi = reconstruct(particles, partons, detector_cfg, rng)
        rows.extend((len(event_ids), *o) for o in objects)
        event_ids.append(block * block_size + n_tried)
        mets.append(met)
        met_phis.append(met_phi)
        n_tried += 1
    info = pythia.infoPython()
    objects = pd.DataFrame(rows, columns=["event_index", "type", "e", "pt", "eta", "phi"])
    objects["type"] = objects["type"].astype(TYPE_DTYPE)
    objects = objects[object_passes_cuts(objects)]
    selection = evaluate_selection(objects, len(event_ids))
    keep = selection["passes_selection"].to_numpy()
    new_index = np.cumsum(keep) - 1
    objects = objects[keep[objects["event_index"].to_numpy()]]
    objects = objects.assign(event_index=new_index[objects["event_index"].to_numpy()]).reset_index(drop=True)
    events = pd.DataFrame(
        {
            "event_id": np.asarray(event_ids, dtype=np.int64)[keep],
            "process_id": process_id,
            "met": np.asarray(mets)[keep],
            "met_phi": np.asarray(met_phis)[keep],
        }
    )
    return BlockResult(
        block,
        events,
        objects,
        n_tried,
        info.sigmaGen() * 1e9,
        info.sigmaErr() * 1e9,
        time.perf_counter() - start,
        init_seconds,
    )


def checkpoint_directory(
    root: str | Path, process_id: str, settings: list[str], detector_cfg: dict[str, Any], seed: int, block_size: int
) -> Path:
    """Where the finished blocks of a run are kept: ``<root>/<process>/seed<seed>-<hash>``, the hash
    of everything a block depends on besides its number (settings, detector, block size), so a run
    resumes only from blocks it would have made itself."""
    return Path(root) / process_id / run_key(process_id, settings, detector_cfg, seed, block_size)


def run_key(process_id: str, settings: list[str], detector_cfg: dict[str, Any], seed: int, block_size: int) -> str:
    """``seed<seed>-<hash>``: what a block depends on besides its number. The hash covers the
    Pythia8 settings and the files they name (SLHA), the detector, the block size, the Pythia8
    version and the source of this chain, so neither a resumed run nor a shared scheduler ever
    mixes in blocks made otherwise."""
    import pythia8mc

    digest = hashlib.sha256(json.dumps([list(settings), detector_cfg, int(block_size)], sort_keys=True).encode())
    for setting in settings:
        name, _, value = setting.partition("=")
        if name.strip().lower() == "slha:file" and Path(value.strip()).is_file():
            digest.update(Path(value.strip()).read_bytes())
    digest.update(str(getattr(pythia8mc, "__version__", "")).encode())
    for module in (__file__, det.__file__):
        digest.update(Path(module).read_bytes())
    return f"{process_id}-seed{int(seed)}-{digest.hexdigest()[:12]}"


def _block_paths(directory: Path, block: int) -> tuple[Path, Path, Path]:
    stem = directory / f"block_{block:06d}"
    return (
        stem.with_suffix(".events.parquet"),
        stem.with_suffix(".objects.parquet"),
        stem.with_suffix(".json"),
    )


def save_block(result: BlockResult, directory: Path) -> None:
    """Write a finished block (events, objects, counters), each file atomically; the JSON last, so
    a block counts as finished only when all three are there."""
    events_path, objects_path, meta_path = _block_paths(directory, result.block)
    with atomic_path(events_path) as tmp:
        result.events.to_parquet(tmp, index=False)
    with atomic_path(objects_path) as tmp:
        result.objects.to_parquet(tmp, index=False)
    meta = {k: getattr(result, k) for k in ("block", "n_tried", "sigma_pb", "sigma_err_pb", "seconds", "init_seconds")}
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(meta))


def load_block(directory: Path, block: int, tables: bool = True) -> BlockResult | None:
    """A finished block written by :func:`save_block`, or None; without its ``tables`` (their
    number of events only) when they are read later, by :func:`block_tables`."""
    events_path, objects_path, meta_path = _block_paths(directory, block)
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if not tables:
        n_accepted = pq.ParquetFile(events_path).metadata.num_rows
        return BlockResult(events=None, objects=None, n_accepted=n_accepted, **meta)
    objects = pd.read_parquet(objects_path)
    objects["type"] = objects["type"].astype(TYPE_DTYPE)
    return BlockResult(events=pd.read_parquet(events_path), objects=objects, **meta)


def block_tables(result: BlockResult, directory: Path | None) -> EventTables:
    """A block's tables: those it holds, or those of its files in ``directory``."""
    if result.events is None:
        result = load_block(directory, result.block)
    return EventTables(result.events, result.objects)


def run_blocks(
    n_events: int,
    block_args: Callable[[int], tuple],
    max_blocks: int,
    n_workers: int,
    scheduler: str | None = None,
    directory: Path | None = None,
    on_block: Callable[[int], None] | None = None,
    key: str = "mc",
    resumed: set[int] | None = None,
) -> list[BlockResult]:
    """Blocks 0, 1, 2, ... as tasks of dask.distributed, until the first k blocks together hold
    ``n_events`` accepted events; returns those k blocks in order.

    Which blocks are used depends only on the blocks' contents, never on which worker finished
    first, so the result is the same on any number of workers, local or remote. A block whose
    worker dies is recomputed by the scheduler on another worker. With a ``directory``, every
    finished block is written there as it arrives and read back (so a fresh and a resumed run go
    through the same bytes), and blocks already there are not computed again: an interrupted run
    resumes from its finished blocks. ``key`` names the run's tasks on the scheduler (blocks of
    other runs on a shared cluster must not be taken for these); ``on_block`` gets the accepted
    events of the finished prefix 0..k after every block; ``resumed`` (if given) receives the
    numbers of the blocks read from ``directory`` instead of computed.

    With a ``directory`` the blocks come back without their tables (:func:`block_tables` reads
    them), so memory does not grow with the number of blocks (issue #14 item 2)."""
    from distributed import as_completed

    results: dict[int, BlockResult] = {}
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        for block in range(max_blocks):
            found = load_block(directory, block, tables=False)
            if found is not None:
                results[block] = found
                if resumed is not None:
                    resumed.add(block)

    def enough() -> int | None:
        accepted, needed = 0, None
        for block in range(max_blocks):
            if block not in results:
                break
            accepted += results[block].n_accepted
            if accepted >= n_events:
                needed = block + 1
                break
        if on_block is not None:
            on_block(accepted)
        return needed

    needed = enough()
    if needed is not None:
        return [results[b] for b in range(needed)]
    with dask_client(n_workers, scheduler) as client:
        pending = iter(b for b in range(max_blocks) if b not in results)
        running = as_completed()

        def submit(block: int) -> None:
            running.add(client.submit(simulate_block, block_args(block), key=f"{key}-block-{block}", pure=False))

        threads = sum(client.nthreads().values()) or n_workers
        for block in itertools.islice(pending, 2 * max(n_workers, threads)):
            submit(block)
        for future in running:
            result = future.result()
            if directory is not None:
                save_block(result, directory)
                result = load_block(directory, result.block, tables=False)
            results[result.block] = result
            needed = enough()
            if needed is not None:
                break
            nxt = next(pending, None)
            if nxt is not None:
                submit(nxt)
        else:
            raise NotEnoughEventsError(
                f"only {sum(r.n_accepted for r in results.values())} of {n_events} events accepted "
                f"in {max_blocks} blocks"
            )
    return [results[b] for b in range(needed)]


def generate_pieces(
    n_events: int,
    process_id: str,
    settings: list[str],
    detector_cfg: dict[str, Any],
    seed: int,
    n_workers: int | None = None,
    block_size: int = 200,
    luminosity_fb: float = 10.0,
    progress: bool = True,
    scheduler: str | None = None,
    checkpoint_root: str | Path | None = None,
    piece_events: int = PIECE_EVENTS,
) -> tuple[Iterator[EventTables], int, dict[str, Any]]:
    """Generate ``n_events`` accepted events: the events (GeV tables) as pieces of about
    ``piece_events`` events (whole blocks joined), read from the checkpoint directory one piece at
    a time, so memory does not grow with ``n_events`` (issue #14 item 2); the number of pieces; the
    run statistics.

    Blocks run on dask.distributed (:func:`run_blocks`): a LocalCluster of ``n_workers`` processes,
    or the cluster at ``scheduler``; with ``checkpoint_root``, finished blocks are kept under
    :func:`checkpoint_directory` and a rerun resumes from them.

    Event weight = sigma * luminosity / N_tried, as in the challenge files (thesis §3.2), with
    sigma Pythia8's own estimate (averaged over blocks) and N_tried every generated event up to
    the last one kept. Each piece's event indices count from 0 within the piece; the pieces
    joined in order (:func:`lhc_vae.events.split.concat_tables`) are the sample.
    """
    from tqdm.auto import tqdm

    if n_events <= 0:
        raise ValueError(f"mc.n_events must be positive, got {n_events}")
    n_workers = default_workers(n_workers)
    start = time.perf_counter()
    # Enough blocks for an acceptance down to 2 %; the run stops as soon as n_events are in.
    max_blocks = int(np.ceil(n_events / (0.02 * block_size))) + n_workers
    directory = (
        checkpoint_directory(checkpoint_root, process_id, settings, detector_cfg, seed, block_size)
        if checkpoint_root
        else None
    )
    bar = tqdm(total=n_events, desc=f"mc {process_id}", unit=" ev", disable=not progress)
    resumed: set[int] = set()
    try:
        results = run_blocks(
            n_events,
            lambda block: (block, block_size, process_id, settings, detector_cfg, seed),
            max_blocks,
            n_workers,
            scheduler,
            directory,
            on_block=lambda prefix: bar.update(min(prefix, n_events) - bar.n),
            key=run_key(process_id, settings, detector_cfg, seed, block_size),
            resumed=resumed,
        )
    except NotEnoughEventsError as err:
        raise NotEnoughEventsError(f"{process_id}: {err}") from err
    finally:
        bar.close()
    wall = time.perf_counter() - start

    # the last block is cut at n_events; N_tried ends with the last event kept
    kept = [r.n_accepted for r in results]
    kept[-1] = n_events - sum(kept[:-1])
    last = block_tables(results[-1], directory)
    n_tried = int(last.events["event_id"].iloc[kept[-1] - 1]) + 1
    tried_blocks = np.array([r.n_tried for r in results], dtype=float)
    sigma_pb = float(np.average([r.sigma_pb for r in results], weights=tried_blocks))
    weight = sigma_pb * 1e3 * luminosity_fb / n_tried
    cpu_seconds = sum(r.seconds for r in results)
    accepted_all = sum(r.n_accepted for r in results)
    stats = {
        "process": process_id,
        "sigma_pb": sigma_pb,
        "sigma_err_pb": float(
            np.sqrt(np.sum((tried_blocks * [r.sigma_err_pb for r in results]) ** 2)) / tried_blocks.sum()
        ),
        "luminosity_fb": luminosity_fb,
        "events_tried": n_tried,
        "events_accepted": n_events,
        "acceptance": n_events / n_tried,
        "seed": int(seed),
        "block_size": block_size,
        "n_blocks": len(results),
        "n_workers": n_workers,
        "scheduler": scheduler or "LocalCluster",
        "checkpoint_directory": str(directory) if directory else None,
        "wall_seconds": wall,
        "cpu_seconds": cpu_seconds,
        "ms_per_accepted_event_per_core": 1e3 * cpu_seconds / accepted_all,
        # Pythia8's initialisation, once per block, and the per-event cost without it (issue #11)
        "init_seconds_per_block": float(np.mean([r.init_seconds for r in results])),
        "ms_per_accepted_event_per_core_after_init": 1e3
        * (cpu_seconds - sum(r.init_seconds for r in results))
        / accepted_all,
        "ms_per_tried_event_per_core": 1e3 * cpu_seconds / tried_blocks.sum(),
        # blocks read from the checkpoint directory (a resumed run) and made by this run
        "blocks_resumed": sum(r.block in resumed for r in results),
        "blocks_computed": sum(r.block not in resumed for r in results),
        # this run's rate; none when some blocks were made by an earlier run
        "accepted_events_per_second": None if resumed & {r.block for r in results} else n_events / wall,
    }

    # pieces of whole blocks, about piece_events each; a piece counts its events from 0 (the Dark
    # Machines writer's numbering), the rows of one table in order
    groups: list[list[int]] = [[]]
    for k in range(len(results)):
        if sum(kept[b] for b in groups[-1]) >= piece_events:
            groups.append([])
        groups[-1].append(k)

    def pieces() -> Iterator[EventTables]:
        for group in groups:
            parts = []
            for k in group:
                tables = last if k == len(results) - 1 else block_tables(results[k], directory)
                objects = tables.objects[tables.objects["event_index"].to_numpy() < kept[k]]
                events = tables.events.iloc[: kept[k]].copy()
                events.insert(2, "weight", weight)
                parts.append(EventTables(events, objects))
            yield concat_tables(parts)  # rows renumbered from 0, objects' event_index with them

    return pieces(), len(groups), stats


def generate(*args: Any, **kwargs: Any) -> tuple[EventTables, dict[str, Any]]:
    """:func:`generate_pieces` joined into one table (tests, benchmarks: small samples)."""
    pieces, _, stats = generate_pieces(*args, **kwargs)
    return concat_tables(list(pieces)), stats
