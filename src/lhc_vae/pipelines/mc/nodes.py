"""Nodes of the ``mc`` pipeline (issue #4)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lhc_vae.datasets import DarkMachinesFile
from lhc_vae.evaluation.plots import event_histogram, experiment_label, log_edges
from lhc_vae.events.darkmachines import ParsedChunk, ParsedFile, concat_chunks
from lhc_vae.events.observables import hadronic_top_candidates
from lhc_vae.events.schema import COUNT_COLUMNS, SYMBOLS, EventTables, multiplicities
from lhc_vae.events.split import take_events
from lhc_vae.io import Chunk, chunked
from lhc_vae.mc.simulation import generate_pieces


def generate_events(process: str, seed: int, mc: dict[str, Any]) -> Iterator[tuple[Chunk, Chunk]]:
    """Generate ``mc.n_events`` accepted events of ``process`` (settings in parameters_mc.yml).

    A generator node: the events are written in pieces read back from the finished blocks, so
    memory does not grow with the sample (issue #14 item 2); the run statistics come with every
    piece, complete from the first (the pieces are cut once all blocks are in)."""
    processes = mc["processes"]
    if process not in processes:
        raise KeyError(
            f"process {process!r} has no Pythia8 settings; add it under mc.processes in "
            f"conf/base/parameters_mc.yml (known: {', '.join(processes)})"
        )
    pieces, count, stats = generate_pieces(
        n_events=int(mc["n_events"]),
        process_id=process,
        settings=list(processes[process]["settings"]),
        detector_cfg=mc["detector"],
        seed=int(seed),
        n_workers=mc.get("n_workers"),
        block_size=int(mc.get("block_size", 200)),
        luminosity_fb=float(mc.get("luminosity_fb", 10.0)),
        scheduler=mc.get("scheduler"),
        checkpoint_root=mc.get("checkpoint_dir"),
        piece_events=int(mc["piece_events"]),
    )
    yield from chunked(((piece, stats) for piece in pieces), count)


def reread_sample(sample: DarkMachinesFile, mc: dict[str, Any]) -> ParsedFile:
    """Read the written file back with the project's reader: every line must parse (lines and
    rejects counted over the whole file), and the tables of its first ``mc.validation_events``
    events are kept for the summaries and plots, so memory stays flat in the sample size."""
    limit = int(mc["validation_events"])
    kept: list[ParsedChunk] = []
    rejects: list[pd.DataFrame] = []
    n_lines = n_kept = 0
    for chunk in sample.chunks():
        n_lines += chunk.n_lines
        rejects.append(chunk.rejects)
        if n_kept < limit:
            kept.append(chunk)
            n_kept += len(chunk.events)
    tables, _, _ = concat_chunks(kept)
    if tables.n_events > limit:
        tables = EventTables(*take_events(tables.events, tables.objects, np.arange(limit)))
    return ParsedFile(tables, pd.concat(rejects, ignore_index=True), n_lines, str(sample.path))


def validation_plots(parsed: ParsedFile, process: str) -> dict[str, Any]:
    """Multiplicities, leading-object features, MET and the top/W peaks of a generated sample
    (events per bin with Poisson errors; energies and momenta in GeV on log axes)."""
    tables = parsed.tables
    n = tables.n_events
    objects = tables.objects
    figures: dict[str, Any] = {}

    fig, axes = plt.subplots(2, 4, figsize=(24, 12))
    counts = multiplicities(objects, n)
    for ax, symbol in zip(axes.flat, SYMBOLS, strict=False):
        values = counts[COUNT_COLUMNS[symbol]].to_numpy(float)
        event_histogram(ax, values, np.arange(-0.5, 12.5), process, f"number of {symbol}", logy=True)
    met = tables.events["met"].to_numpy()
    event_histogram(axes.flat[-1], met, log_edges(met), process, r"$E_T^{miss}$ [GeV]", logx=True, logy=True)
    experiment_label(list(axes[0]), process)
    fig.tight_layout()
    figures["multiplicities_met.png"] = fig

    lead = objects.sort_values(["event_index", "pt"], ascending=[True, False])
    for symbol in ("j", "b", "e-", "m-", "g"):
        first = lead[lead["type"] == symbol].groupby("event_index").head(1)
        fig, axes = plt.subplots(1, 4, figsize=(24, 6.5))
        e, pt = first["e"].to_numpy(float), first["pt"].to_numpy(float)
        event_histogram(axes[0], e, log_edges(e), process, f"$E$ [GeV], leading {symbol}", logx=True)
        event_histogram(axes[1], pt, log_edges(pt), process, f"$p_T$ [GeV], leading {symbol}", logx=True)
        eta, phi = first["eta"].to_numpy(float), first["phi"].to_numpy(float)
        event_histogram(axes[2], eta, np.linspace(-3, 3, 41), process, rf"$\eta$, leading {symbol}")
        event_histogram(axes[3], phi, np.linspace(-np.pi, np.pi, 33), process, rf"$\phi$, leading {symbol}")
        experiment_label(list(axes), process)
        fig.tight_layout()
        figures[f"leading_{symbol.replace('-', 'minus')}.png"] = fig

    masses = hadronic_top_candidates(objects, n)
    fig, axes = plt.subplots(1, 2, figsize=(16, 7))
    m_w, m_top = masses["m_w"].to_numpy(), masses["m_top"].to_numpy()
    event_histogram(axes[0], m_w, np.linspace(0, 200, 51), process, r"$m_{jj}$ (W candidate) [GeV]")
    axes[0].axvline(80.4, color="red", ls="--", label="80.4 GeV")
    event_histogram(axes[1], m_top, np.linspace(50, 400, 71), process, r"$m_{bjj}$ (top candidate) [GeV]")
    axes[1].axvline(172.5, color="red", ls="--", label="172.5 GeV")
    for ax in axes:
        ax.legend()
    experiment_label(list(axes), process)
    fig.tight_layout()
    figures["top_w_masses.png"] = fig
    return figures


def summarise_sample(parsed: ParsedFile, run: Chunk) -> dict[str, Any]:
    """Run statistics (the last piece of the generator node's ``run`` output) plus what the re-read
    file shows: rejects (must be 0) and physics summaries of its first ``summary_events`` events."""
    if not run.last:
        raise ValueError("the MC run statistics are complete only with the last piece of the sample")
    stats = run.data
    tables = parsed.tables
    n = tables.n_events
    counts = multiplicities(tables.objects, n)
    masses = hadronic_top_candidates(tables.objects, n)
    jets = tables.objects["type"].isin(["j", "b"])
    return {
        **stats,
        "reread_lines": parsed.n_lines,
        "reread_rejects": parsed.n_rejected,
        "summary_events": n,
        "mean_met_gev": float(tables.events["met"].mean()),
        "mean_multiplicity": {c: float(counts[c].mean()) for c in counts.columns},
        "btag_fraction_of_jets": float((tables.objects.loc[jets, "type"] == "b").mean()),
        "median_m_w_gev": float(np.nanmedian(masses["m_w"])) if masses["m_w"].notna().any() else None,
        "median_m_top_gev": float(np.nanmedian(masses["m_top"])) if masses["m_top"].notna().any() else None,
    }
