"""Plots in the field's idiom (issue #15 item 2): mplhep's style and experiment label, histograms
held in ``hist`` objects with Poisson errors, ratio panels with the truth's uncertainty band, and
logarithmic axes in GeV where the thesis compares log10 features (§7.2)."""

from __future__ import annotations

import hist
import matplotlib.pyplot as plt
import mplhep
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from lhc_vae.evaluation.features import LOG_VARIABLES, variable_values
from lhc_vae.evaluation.metrics import bin_counts

#: Every figure of the project: mplhep's experiment-neutral ROOT style (set for a whole ``kedro run``
#: by ``lhc_vae.hooks.FigureStyle``; ``plt.style.use(STYLE)`` elsewhere, e.g. in a notebook).
STYLE = mplhep.style.ROOT
#: The processes' names on the figures (Dark Machines IDs otherwise).
PROCESS_LABELS = {"ttbar": r"$t\bar{t}$", "stop_02": r"$\tilde{t}\tilde{t}^{*}$ (stop_02)"}

LABELS = {
    "met": r"$E_T^{miss}$ [GeV]",
    "met_phi": r"$\phi(E_T^{miss})$",
    "total_energy": r"$\sum E$ [GeV]",
    "ht": r"$H_T$ [GeV]",
    "m_jj": r"$m_{jj}$ [GeV]",
    "m_top": r"$m_{bjj}$ [GeV]",
    "dphi_met_jet1": r"$\Delta\phi(E_T^{miss}, j_1)$",
}


def experiment_label(axes: plt.Axes | list[plt.Axes], process: str | None = None) -> None:
    """The experiment-style label: "lhc-vae Simulation" above the (first) axes on the left and
    "√s = 13 TeV, <process>" above the (last) axes on the right, so that a row of panels carries one."""
    axes = list(np.atleast_1d(axes))
    rlabel = "√s = 13 TeV" + (f", {PROCESS_LABELS.get(process, process)}" if process else "")
    if len(axes) == 1:
        mplhep.label.exp_label(exp="lhc-vae", llabel="Simulation", rlabel=rlabel, ax=axes[0])
        return
    mplhep.label.exp_label(exp="lhc-vae", llabel="Simulation", rlabel="", ax=axes[0])
    mplhep.label.exp_label(exp="", llabel="", rlabel=rlabel, ax=axes[-1])


def _label(variable: str) -> str:
    """Axis title of a variable: in GeV on a log axis where the thesis compares log10 values."""
    if variable in LABELS:
        return LABELS[variable]
    name, _, feature = variable.rpartition("_")
    pretty = {"e": "$E$ [GeV]", "pt": "$p_T$ [GeV]", "eta": r"$\eta$", "phi": r"$\phi$"}.get(feature, variable)
    return f"{name} {pretty}" if name else variable


def fraction_hist(values: np.ndarray, edges: np.ndarray, log: bool = False) -> tuple[hist.Hist, float]:
    """The fraction of all events in each bin of ``edges`` with its Poisson variance (n_i / N and
    n_i / N^2), as a ``hist.Hist`` with weighted storage, and the fraction of events without a value
    (NaN: no such object). The under- and overflow (:func:`lhc_vae.evaluation.metrics.bin_counts`)
    are added to the outer bins. ``log``: ``values`` and ``edges`` are log10, the axis is in GeV."""
    counts = bin_counts(values, edges)
    total = counts.sum()
    regular = counts[2:-1].copy()
    regular[0] += counts[1]
    regular[-1] += counts[-1]
    axis = hist.axis.Variable(10.0**edges if log else edges, underflow=False, overflow=False, label="")
    h = hist.Hist(axis, storage=hist.storage.Weight())
    scale = 1.0 / total if total > 0 else 0.0
    h.view().value = regular * scale
    h.view().variance = regular * scale**2
    return h, counts[0] * scale


def log_edges(values: np.ndarray, n_bins: int = 40, floor: float = 1.0) -> np.ndarray:
    """``n_bins`` log-spaced bins over the finite, positive ``values`` (at least ``floor``)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    lo, hi = (max(v.min(), floor), max(v.max(), 1.01 * max(v.min(), floor))) if v.size else (floor, 10 * floor)
    return np.geomspace(lo, hi, n_bins + 1)


def event_histogram(
    ax: plt.Axes,
    values: np.ndarray,
    edges: np.ndarray,
    label: str,
    xlabel: str,
    logx: bool = False,
    logy: bool = False,
    colour: str = "black",
) -> hist.Hist:
    """Events per bin of ``edges`` (a ``hist.Hist``; values outside are not drawn) as points with
    Poisson error bars sqrt(n)."""
    v = np.asarray(values, dtype=np.float64)
    h = hist.Hist(hist.axis.Variable(edges, underflow=False, overflow=False, label=""), storage=hist.storage.Double())
    h.fill(v[np.isfinite(v)])
    mplhep.histplot(h, ax=ax, histtype="errorbar", yerr=np.sqrt(h.values()), color=colour, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("events")
    if logx:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    if logy:
        ax.set_yscale("log")
    return h


#: The ratio panel's range; bins beyond it (or generated where the truth is empty) get a marker at its edge.
RATIO_RANGE = (0.0, 2.0)


def _with_absent(label: str, absent: float) -> str:
    return f"{label}, {100 * absent:.1f} % none" if absent > 0 else label


def ratio_histogram(
    truth: pd.DataFrame,
    samples: dict[str, pd.DataFrame],
    variable: str,
    edges: np.ndarray,
    process: str | None = None,
) -> plt.Figure:
    """Truth (points with Poisson error bars) and each sample (steps) as fractions of events on the
    truth's ``edges``, and generated / truth below with the truth's statistical uncertainty as a
    band around 1 (bins off its scale, or generated where the truth has no event, marked with a
    triangle at its edge). The outer bins hold the under- and overflow; a log10 variable of the
    thesis is shown in GeV on a logarithmic axis."""
    log = variable in LOG_VARIABLES
    fig, (ax, rax) = plt.subplots(
        2, 1, figsize=(9, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.06}
    )
    t_values = variable_values(truth, variable)
    if not np.isfinite(t_values).any():
        ax.set_title(f"{variable}: no truth entries")
        return fig
    h_t, absent_t = fraction_hist(t_values, edges, log)
    t_val, t_err = h_t.values(), np.sqrt(h_t.variances())
    axis_edges = h_t.axes[0].edges
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    centres = np.sqrt(axis_edges[1:] * axis_edges[:-1]) if log else 0.5 * (axis_edges[1:] + axis_edges[:-1])
    top = np.nanmax(t_val + t_err)
    for k, (label, sample) in enumerate(samples.items()):
        g_values = variable_values(sample, variable)
        if not np.isfinite(g_values).any():
            continue
        h_g, absent_g = fraction_hist(g_values, edges, log)
        top = max(top, np.nanmax(h_g.values()))  # a generated spike stays in view
        colour = colours[k % len(colours)]
        mplhep.histplot(h_g, ax=ax, histtype="step", yerr=False, color=colour, label=_with_absent(label, absent_g))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(t_val > 0, h_g.values() / t_val, np.nan)
        rax.stairs(np.clip(ratio, RATIO_RANGE[0], RATIO_RANGE[1]), axis_edges, color=colour, lw=1.5)
        # off the ratio scale, or generated where the truth has nothing: a marker at the panel's edge
        high = (ratio > RATIO_RANGE[1]) | ((t_val == 0) & (h_g.values() > 0))
        low = ratio < RATIO_RANGE[0]
        rax.plot(centres[high], np.full(high.sum(), RATIO_RANGE[1]), "^", color=colour, ms=7, clip_on=False)
        rax.plot(centres[low], np.full(low.sum(), RATIO_RANGE[0]), "v", color=colour, ms=7, clip_on=False)
    mplhep.histplot(
        h_t, ax=ax, histtype="errorbar", yerr=t_err, color="black", label=_with_absent("truth (test split)", absent_t)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(t_val > 0, t_err / t_val, np.nan)
    rax.stairs(1 + rel, axis_edges, baseline=1 - rel, fill=True, color="grey", alpha=0.35, label="truth stat. unc.")
    rax.axhline(1.0, color="black", lw=0.8)
    rax.set_ylim(*RATIO_RANGE)
    rax.set_ylabel("gen / truth", fontsize=14)
    rax.set_xlabel(_label(variable) + " (outer bins: under/overflow)", fontsize=16)
    ax.set_ylabel("fraction of events per bin", fontsize=16)
    ax.set_ylim(0, 1.3 * max(top, 1e-9))
    ax.legend(fontsize=10, loc="upper right")
    ax.set_xlabel("")
    if log:
        ax.set_xscale("log")
        rax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(axis_edges[0], axis_edges[-1])
    experiment_label(ax, process)
    return fig


def correlation_heatmaps(truth: pd.DataFrame, samples: dict[str, pd.DataFrame], columns: tuple[str, ...]) -> plt.Figure:
    """Pearson correlations of ``columns`` for the truth and each sample (thesis figs. 7.4, 7.13)."""
    panels = {"truth": truth, **samples}
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5), squeeze=False)
    for ax, (label, frame) in zip(axes[0], panels.items(), strict=True):
        corr = frame[list(columns)].corr().to_numpy()
        ax.imshow(corr, cmap="coolwarm", vmin=-1, vmax=1)
        ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
        ax.set_yticks(range(len(columns)), columns, fontsize=7)
        ax.set_title(label, fontsize=8)
        for i in range(len(columns)):
            for j in range(len(columns)):
                if np.isfinite(corr[i, j]):
                    ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=5)
    fig.tight_layout()
    return fig


def speed_bars(ms_per_event: dict[str, float], title: str) -> plt.Figure:
    """Milliseconds per event on a log axis."""
    names = list(ms_per_event)
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(names) + 2.5))
    ax.barh(
        names, [ms_per_event[n] for n in names], color=["black" if n.startswith("MC") else "tab:blue" for n in names]
    )
    ax.set_xscale("log")
    ax.set_xlabel("ms per event (log scale)")
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig
