"""Plots in the field's idiom: step histograms with a ratio panel, correlation heatmaps, speed bars."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lhc_vae.evaluation.features import LOG_VARIABLES, comparison_values
from lhc_vae.evaluation.metrics import bin_centres, histogram

LABELS = {
    "met": r"$\log_{10} E_T^{miss}$ [GeV]",
    "met_phi": r"$\phi(E_T^{miss})$",
    "total_energy": r"$\log_{10} \sum E$ [GeV]",
}


def _label(variable: str) -> str:
    if variable in LABELS:
        return LABELS[variable]
    name, _, feature = variable.rpartition("_")
    pretty = {"e": "E [GeV]", "pt": "$p_T$ [GeV]", "eta": r"$\eta$", "phi": r"$\phi$"}.get(feature, variable)
    return (r"$\log_{10}$ " if variable in LOG_VARIABLES else "") + f"{name} {pretty}" if name else variable


def ratio_histogram(
    truth: pd.DataFrame, samples: dict[str, pd.DataFrame], variable: str, edges: np.ndarray
) -> plt.Figure:
    """Truth (filled) and each sample (step) normalised on the truth's ``edges``, with
    generated / truth below; the outer bins hold the under- and overflow (see ``metrics.histogram``)."""
    t = comparison_values(truth, variable)
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    if t.size == 0:
        ax.set_title(f"{variable}: no truth entries")
        return fig
    centres = bin_centres(edges)
    t_h = histogram(t, edges)
    ax.fill_between(centres, t_h, step="mid", color="lightgrey", label="truth (test split)")
    ax.step(centres, t_h, where="mid", color="black")
    for label, sample in samples.items():
        g = comparison_values(sample, variable)
        if g.size == 0:
            continue
        g_h = histogram(g, edges)
        line = ax.step(centres, g_h, where="mid", label=label)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            rax.step(centres, np.where(t_h > 0, g_h / t_h, np.nan), where="mid", color=line.get_color())
    ax.set_ylabel("fraction of events per bin")
    ax.legend(fontsize=7)
    rax.axhline(1.0, color="black", lw=0.8)
    rax.set_ylim(0, 2)
    rax.set_ylabel("gen / truth")
    rax.set_xlabel(_label(variable) + " (outer bins: under/overflow)")
    fig.tight_layout()
    return fig


def correlation_heatmaps(truth: pd.DataFrame, samples: dict[str, pd.DataFrame], columns: tuple[str, ...]) -> plt.Figure:
    """Pearson correlations of ``columns`` for the truth and each sample (thesis figs. 7.4, 7.13)."""
    panels = {"truth": truth, **samples}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
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
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.5))
    ax.barh(
        names, [ms_per_event[n] for n in names], color=["black" if n.startswith("MC") else "tab:blue" for n in names]
    )
    ax.set_xscale("log")
    ax.set_xlabel("ms per event (log scale)")
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig
