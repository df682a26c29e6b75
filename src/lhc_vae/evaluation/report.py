"""The report: a self-contained HTML page (images embedded) with the thesis's published numbers
as reference rows (:mod:`lhc_vae.thesis`)."""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.thesis import THESIS_TABLES

#: (key, header, key of its uncertainty or None), in table order.
TABLE_COLUMNS: list[tuple[str, str, str | None]] = [
    ("run", "run", None),
    ("subset", "truth subset", None),
    ("n_generated", "events compared", None),
    ("from_noise", "from noise", None),
    ("effective_beta", "β in the loss", None),
    ("rank_auc_full", "rank (AUC)", None),
    ("auc_full", "AUC full event", "auc_full_err"),
    ("auc_summary", "AUC summary features", "auc_summary_err"),
    ("w1_sample", "W1 sample [σ]", "w1_sample_err"),
    ("w1_binned", "W1 binned [σ]", "w1_binned_err"),
    ("js", "JS (base 2)", "js_err"),
    ("kl", "KL", "kl_err"),
    ("coverage", "coverage", None),
    ("beyond_floor", "beyond floor (> 2σ)", None),
    ("invalid_event_rate_percent", "IER %", None),
    ("invalid_event_rate_raw_percent", "IER % before corrections", None),
    ("fraction_phi_wrapped", "φ wrapped / object", None),
    ("fraction_e_raised_to_pt", "E raised to pT / object", None),
    ("fraction_clipped_beyond_10_sigma", "values clipped at 10σ / object", None),
    ("fraction_met_phi_wrapped", "φ(MET) wrapped / event", None),
    ("ms_per_event_t1k", "ms/event (T1K/1000)", None),
    ("ms_per_event_steady", "ms/event steady", None),
    ("fpd", "FPD", "fpd_err"),
    ("kpd", "KPD", "kpd_err"),
    ("multiplicity_js_mean", "multiplicity JS", "multiplicity_js_mean_err"),
    ("correlation_distance", "corr. distance", "correlation_distance_err"),
    ("wd_thesis", "WD thesis-compatible (bin heights; never ranks)", "wd_thesis_err"),
]


def thesis_rows(process: str) -> pd.DataFrame:
    """The thesis's published rows for ``process`` (empty for a process it does not report)."""
    rows = [
        {
            "run": f"thesis {exp} " + (f"α={a}" if a is not None else f"β={b}"),
            "subset": "thesis: Dark Machines ttbar" + (", exp III's subset" if exp == "exp3" else ""),
            "from_noise": exp in ("exp2", "exp3"),
            "effective_beta": b,
            "wd_thesis": wd,
            "js": js,
            "kl": kl,
            "invalid_event_rate_percent": ier,
            "ms_per_event_t1k": ms,
            "reference": True,
        }
        for exp, a, b, wd, js, kl, ier, ms in THESIS_TABLES.get(process, [])
    ]
    return pd.DataFrame(rows)


def png_base64(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode()


def fmt(value: Any, error: Any = None) -> str:
    """A cell: 4 significant digits, or the value to the precision of its uncertainty (two
    significant digits of the error), e.g. ``0.1523 ± 0.0041``; an error of exactly 0 is shown."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return "–"
    if isinstance(value, numbers.Real):
        value = float(value)
        has_error = isinstance(error, numbers.Real) and math.isfinite(error)
        if has_error and error > 0:
            digits = max(0, 1 - math.floor(math.log10(error)))
            return f"{value:.{digits}f} ± {float(error):.{digits}f}"
        if has_error:
            return f"{value:#.4g} ± 0"
        if value.is_integer() and abs(value) < 1e7:
            return f"{int(value)}"
        return f"{value:#.4g}"
    return html.escape(str(value))


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """A table read back from CSV (empty cells, numbers and booleans as text) with its types
    restored, so every cell is formatted as a number."""
    out = frame.replace({"": None, "True": True, "False": False})
    for col in out.columns:
        present = out[col].notna()
        numbers = pd.to_numeric(out[col], errors="coerce")
        if present.any() and numbers[present].notna().all() and not out.loc[present, col].map(type).eq(bool).any():
            out[col] = numbers
    return out


def table(frame: pd.DataFrame, columns: list[tuple[str, str, str | None]]) -> str:
    """An HTML table of ``frame``: reference rows yellow, floors green."""
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in columns)
    body = []
    for _, row in frame.iterrows():
        cls = ' class="ref"' if row.get("reference") is True else (' class="floor"' if str(row.get("run", "")).startswith("truth vs truth") else "")
        cells = "".join(f"<td>{fmt(row.get(key), row.get(err) if err else None)}</td>" for key, _, err in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1500px; }
table { border-collapse: collapse; font-size: 12px; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f0f0f0; } td:first-child { text-align: left; }
tr.ref { background: #fff6d8; } tr.floor { background: #e3f2e3; }
figure { display: inline-block; margin: 0.5em; } img { max-width: 640px; }
figcaption { font-size: 11px; color: #555; }
"""

def explanation(truth: str, n_bins: int) -> str:
    """What the table shows; ``truth`` says what the truth and the floor's second sample are."""
    return f"""<p>{truth} A run of an experiment that models only part of the events (experiment III: at most 4 jets
and 2 b-jets, nothing else) is compared with the truth events of that <b>subset</b>. Every run is compared with as
many generated events as the floor's second sample has: binned distances are biased by the sample size, so only
equal sizes compare. Every uncertainty is one standard deviation: bootstrap (events of both samples resampled) for
the binned metrics, the multiplicity JS and the correlation distance, the standard error over the held-out folds or, if larger, the Hanley-McNeil error for the
classifier AUCs, the fit error combined with
a bootstrap of the two samples for FPD, and for KPD (the mean of its batch values) the larger of half the 16-84 %
range of the batch values and the spread of the permutation null (Kansal et al. 2023, see physics_distances.py).
<b>beyond floor</b> lists the metrics on which a run is worse than the floor by more than two combined standard
deviations; the pair table below says which runs of the same subset can be told apart.</p>
<p><b>Ranking metrics</b> (lower is better): the AUC of a classifier trained to tell generated from true events on
the whole event (every object's type, log pT, η, φ, log E up to 19 objects, and MET; 0.5 = indistinguishable; under
the null cross-validation reads slightly below 0.5, as the floor shows) ranks the runs of a subset; W1 sample is the Wasserstein distance between the samples, W1 binned between the binned
densities at the bin centres, both in units of the truth's standard deviation and capped at 10; JS (base 2) and KL on
the same bins. Bins are fixed from the truth alone ({n_bins} equal bins over its 0.1-99.9 % range, plus underflow,
overflow and an <i>absent</i> bin for events without such an object, placed one bin below the underflow for the
W1s; saved in <code>binning.json</code>), so outliers and missing objects cost. W1, JS and KL combine the variables
with the entry weights of thesis eq. 6.5; a group (e.g. leptons) that a run never generates, or generates where the
truth has none, gets the worst value (JS 1, KL 23.0, W1 10σ); <b>coverage</b> is the fraction of the truth's groups
that the run generates.</p>
<p><b>WD thesis-compatible</b> is the W1 between the two vectors of normalised bin <i>heights</i> of the present
values, the only reading that reproduces the thesis's numbers (yellow rows: the thesis's Table 8.1 or 7.5, on the
Dark Machines challenge sample; its exp III row on exp III's subset). It cannot see where the mass is: a shifted or
mirrored distribution scores like the truth itself. It is shown beside the thesis rows and never ranks.
The β in the loss is the weight of the KL term against a reconstruction term summed over features (thesis eq. 4.2).
IER (eq. 6.6) is measured after the corrections (φ wrapped, E raised to pT, values clipped at 10σ), whose rates are
shown per generated object (clipping: values per object); "before corrections" counts an event with a clipped value
or E raised to pT as invalid too (a wrapped φ is the same direction and is not a defect). With the default
<code>detector</code> features every generated object passes its §3.1 cuts with E ≥ |p| by construction, so IER
counts the events without a trigger object, and every φ is flat by construction (MET frame): the φ rows match the
truth by design, the angles between objects and MET (Δφ) and the classifier show what was learned. Runs marked "from noise: no" start every event from a real validation event (α-VAE truth
perturbation): the floor's second sample is that same validation split, so a perfect autoencoder scores the floor.</p>"""


def render_html(
    process: str,
    source: str,
    metrics: pd.DataFrame,
    per_variable: pd.DataFrame,
    pairs: pd.DataFrame,
    images: dict[str, str],
    benchmark: dict[str, Any] | None,
    truth: str,
    n_bins: int,
) -> str:
    """The report page. ``images`` maps a caption to a base64 PNG; ``truth`` describes the truth."""
    metrics, per_variable, pairs = typed(metrics), typed(per_variable), typed(pairs)
    ranked = metrics
    if "rank_auc_full" in metrics:  # each subset together: its floor first, then its runs by rank
        order = {name: k for k, name in enumerate(dict.fromkeys(metrics["subset"]))}
        ranked = metrics.assign(_subset=metrics["subset"].map(order)).sort_values(["_subset", "rank_auc_full"], na_position="first", kind="stable").drop(columns="_subset")
    frame = pd.concat([ranked, thesis_rows(process)], ignore_index=True)
    columns = [c for c in TABLE_COLUMNS if c[0] in frame.columns]
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(name)}"><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, data in images.items()
    )
    pair_cols = [("run_a", "run A", None), ("run_b", "run B", None), ("metric", "metric", None), ("a", "A", None), ("b", "B", None),
                 ("difference", "A − B", None), ("sigmas", "σ", None), ("distinguishable", "distinguishable (> 2σ)", None)]
    pv_cols = [(c, c, None) for c in ["run", "variable", "group", "n_truth", "n_generated", "w1_sample", "w1_binned", "js", "kl", "wd_thesis"] if c in per_variable]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lhc-vae report: {html.escape(process)}</title>
<style>{STYLE}</style></head><body>
<h1>Generated vs truth: {html.escape(process)} (source {html.escape(source)})</h1>
<p>Made {datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}.</p>
{explanation(truth, n_bins)}
{table(frame, columns)}
<h2>Which runs can be told apart</h2>
{table(pairs, pair_cols) if len(pairs) else "<p>One run per truth subset: nothing to compare.</p>"}
{benchmark_section(benchmark)}
<h2>Figures</h2>
{figures}
<h2>Per-variable distances</h2>
<details><summary>show ({len(per_variable)} rows)</summary>{table(per_variable, pv_cols)}</details>
</body></html>
"""


def benchmark_section(benchmark: dict[str, Any] | None) -> str:
    """The speed table of the ``benchmark`` pipeline, if it has been run."""
    if not benchmark:
        return ""
    cols = [("model", "model", None), ("ms_per_event_t1k", "ms/event (1k batch)", None), ("ms_per_event_steady", "ms/event (large batch)", None),
            ("ms_per_event_steady_1core", "ms/event (large batch, 1 core)", None),
            ("speedup_1core", "speed-up vs MC, 1 core each", None), ("speedup_all_cores", "speed-up vs MC, all cores each", None),
            ("roofline_percent", "% of matmul peak", None)]
    rows = pd.DataFrame(
        [{"model": name, **v, "ms_per_event_steady_1core": v.get("one_core", {}).get("ms_per_event_steady")} for name, v in benchmark.get("models", {}).items()]
    )
    mc = benchmark.get("mc", {})
    return (
        f"<h2>Speed (benchmark of {html.escape(str(benchmark.get('date', '')))})</h2>"
        f"<p>Monte Carlo chain (Pythia8 + FastJet + detector response): <b>{fmt(mc.get('ms_per_event_per_core'))} ms</b> "
        f"per accepted event per core. {html.escape(str(benchmark.get('note', '')))}</p>"
        + (table(rows, [c for c in cols if c[0] in rows.columns]) if len(rows) else "")
    )
