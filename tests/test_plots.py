"""The report's histograms (issue #15 item 2): fractions of events with Poisson errors, the truth's
uncertainty band in the ratio panel, GeV on log axes for the log10 variables of thesis §7.2."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from lhc_vae.evaluation.plots import event_histogram, fraction_hist, ratio_histogram


def test_fraction_hist_has_poisson_variances_and_folds_the_flow_into_the_outer_bins():
    # absent, underflow, bins [0,1) [1,2) [2,3], overflow
    values = np.array([np.nan, -1.0, 0.5, 1.5, 1.5, 2.5, 3.0, 10.0])
    h, absent = fraction_hist(values, np.array([0.0, 1.0, 2.0, 3.0]))
    n = len(values)
    # [0,1) gets the underflow; [2,3] holds 2.5 and 3.0 (closed) and gets the overflow
    assert h.values() == pytest.approx(np.array([2, 2, 3]) / n)
    assert h.variances() == pytest.approx(np.array([2, 2, 3]) / n**2)
    assert absent == pytest.approx(1 / n)
    logged, _ = fraction_hist(np.log10([5.0, 50.0, 500.0]), np.array([0.0, 1.0, 2.0, 3.0]), log=True)
    assert logged.axes[0].edges == pytest.approx([1.0, 10.0, 100.0, 1000.0])
    assert logged.values() == pytest.approx([1 / 3, 1 / 3, 1 / 3])


def _errorbar_heights(ax) -> np.ndarray:
    """Lengths of the vertical error bars drawn on ``ax``."""
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    return np.array([abs(seg[1][1] - seg[0][1]) for bars_ in bars for seg in bars_.get_segments()])


def test_ratio_histogram_draws_the_truth_errors_and_band_on_a_log_axis_in_gev():
    rng = np.random.default_rng(3)
    met = 10 ** rng.normal(1.5, 0.3, 4000)
    truth = pd.DataFrame({"met": met, "jet1_eta": rng.normal(0, 1, 4000)})
    generated = pd.DataFrame({"met": met * 1.2, "jet1_eta": rng.normal(0, 1, 4000)})
    edges = np.linspace(0.5, 2.5, 11)  # log10 GeV
    fig = ratio_histogram(truth, {"shifted": generated}, "met", edges, "ttbar")
    ax, rax = fig.axes
    assert ax.get_xscale() == "log" and rax.get_xscale() == "log"
    assert ax.get_xlim() == pytest.approx((10**0.5, 10**2.5))
    # the counts by numpy, under- and overflow in the outer bins: error bars of +-sqrt(n)/N
    n, _ = np.histogram(np.clip(np.log10(met), edges[0], edges[-1]), edges)
    expected = 2 * np.sqrt(n) / len(met)
    assert np.sort(_errorbar_heights(ax)) == pytest.approx(np.sort(expected[expected > 0]))
    band = [p for p in rax.patches if p.get_fill()]
    assert len(band) == 1  # the truth's relative uncertainty, 1 +- sqrt(n)/n
    lower, upper = band[0].get_data().baseline, band[0].get_data().values
    assert (upper - lower) / 2 == pytest.approx(1 / np.sqrt(n))
    assert "GeV" in rax.get_xlabel() and "log" not in rax.get_xlabel()
    plt.close(fig)
    linear = ratio_histogram(truth, {"shifted": generated}, "jet1_eta", np.linspace(-3, 3, 13))
    assert linear.axes[0].get_xscale() == "linear"
    plt.close(linear)


def test_event_histogram_counts_events_with_sqrt_n_errors():
    fig, ax = plt.subplots()
    h = event_histogram(ax, np.array([0.0, 0.0, 0.0, 0.0, 1.0, np.nan, 7.0]), np.array([-0.5, 0.5, 1.5]), "x", "n")
    assert h.values() == pytest.approx([4.0, 1.0])  # NaN and values outside the edges are not counted
    assert np.sort(_errorbar_heights(ax)) == pytest.approx([2.0, 4.0])  # 2 sqrt(1), 2 sqrt(4)
    plt.close(fig)


def test_a_generated_spike_stays_in_view_and_off_scale_ratios_are_marked():
    rng = np.random.default_rng(4)
    truth = pd.DataFrame({"jet1_eta": rng.uniform(-2, 2, 10_000)})
    spike = np.r_[rng.uniform(-2, 2, 5_000), np.full(5_000, 0.05)]  # half of the events in one bin
    edges = np.linspace(-2, 2, 21)
    fig = ratio_histogram(truth, {"spiky": pd.DataFrame({"jet1_eta": spike})}, "jet1_eta", edges)
    ax, rax = fig.axes
    assert ax.get_ylim()[1] >= 0.5 + 0.5 / 20  # the spike's bin holds more than half of the events
    markers = [line for line in rax.lines if line.get_marker() == "^" and len(line.get_xdata())]
    (marker,) = markers
    assert marker.get_xdata() == pytest.approx([0.1]) and marker.get_ydata() == pytest.approx([2.0])  # bin [0, 0.2)
    plt.close(fig)
