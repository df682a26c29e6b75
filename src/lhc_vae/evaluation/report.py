"""The report: a self-contained HTML page (images embedded) with the thesis's published numbers
as reference rows (``conf/base/parameters_thesis.yml``), rendered from the Jinja2 template
``templates/report.html.j2``."""

from __future__ import annotations

import base64
import io
import math
import numbers
from datetime import UTC, datetime
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from lhc_vae.tags import FLOOR

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


def thesis_rows(process: str, published: list[dict[str, Any]]) -> pd.DataFrame:
    """The thesis's published rows for ``process`` (``params:thesis_tables``, Table 8.1 or 7.5;
    empty for a process it does not report) in the report's columns."""
    rows = []
    for row in published:
        exp, beta = row["experiment"], row.get("beta")
        rows.append(
            {
                "run": f"thesis {exp} " + (f"β={beta}" if beta is not None else f"α={row['alpha']}"),
                "subset": f"thesis: Dark Machines {process}" + (", exp III's subset" if exp == "exp3" else ""),
                "from_noise": beta is not None,  # the beta-VAEs generate from noise, the alpha-VAEs from truth
                "effective_beta": beta,
                "wd_thesis": row["wd"],
                "js": row["js"],
                "kl": row["kl"],
                "invalid_event_rate_percent": row["ier_percent"],
                "ms_per_event_t1k": row["ms_per_event"],
                "reference": True,
            }
        )
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
    return str(value)


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


def table(frame: pd.DataFrame, columns: list[tuple[str, str, str | None]]) -> dict[str, list]:
    """The cells of an HTML table of ``frame`` (formatted by :func:`fmt`): reference rows yellow, floors green."""
    rows = []
    for _, row in frame.iterrows():
        css = "ref" if row.get("reference") is True else ("floor" if str(row.get("run", "")) == FLOOR else "")
        cells = [fmt(row.get(key), row.get(err) if err else None) for key, _, err in columns]
        rows.append({"css": css, "cells": cells})
    return {"columns": [{"label": label} for _, label, _ in columns], "rows": rows}


#: The page's template (``templates/report.html.j2``), autoescaped: every value is text, never markup.
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("lhc_vae.evaluation", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

PAIR_COLUMNS: list[tuple[str, str, str | None]] = [
    ("run_a", "run A", None),
    ("run_b", "run B", None),
    ("metric", "metric", None),
    ("a", "A", None),
    ("b", "B", None),
    ("difference", "A − B", None),
    ("sigmas", "σ", None),
    ("distinguishable", "distinguishable (> 2σ)", None),
]
PER_VARIABLE_COLUMNS = ["run", "variable", "group", "n_truth", "n_generated", "w1_sample", "w1_binned", "js", "kl"]
PER_VARIABLE_COLUMNS += ["wd_thesis"]
BENCHMARK_COLUMNS: list[tuple[str, str, str | None]] = [
    ("model", "model", None),
    ("ms_per_event_t1k", "ms/event (1k batch)", None),
    ("ms_per_event_steady", "ms/event (large batch)", None),
    ("ms_per_event_steady_1core", "ms/event (large batch, 1 core)", None),
    ("speedup_1core", "speed-up vs MC, 1 core each", None),
    ("speedup_all_cores", "speed-up vs MC, all cores each", None),
    ("roofline_percent", "% of matmul peak", None),
]


def ranked(metrics: pd.DataFrame) -> pd.DataFrame:
    """Each truth subset together: its floor first, then its runs by their AUC rank."""
    if "rank_auc_full" not in metrics:
        return metrics
    order = {name: k for k, name in enumerate(dict.fromkeys(metrics["subset"]))}
    return (
        metrics.assign(_subset=metrics["subset"].map(order))
        .sort_values(["_subset", "rank_auc_full"], na_position="first", kind="stable")
        .drop(columns="_subset")
    )


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
    published: list[dict[str, Any]] = (),
) -> str:
    """The report page. ``images`` maps a caption to a base64 PNG; ``truth`` describes the truth;
    ``published``: the thesis's rows for the process (:func:`thesis_rows`)."""
    metrics, per_variable, pairs = typed(metrics), typed(per_variable), typed(pairs)
    frame = pd.concat([ranked(metrics), thesis_rows(process, list(published))], ignore_index=True)
    pv_columns = [(c, c, None) for c in PER_VARIABLE_COLUMNS if c in per_variable]
    return TEMPLATES.get_template("report.html.j2").render(
        process=process,
        source=source,
        made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        truth=truth,
        n_bins=n_bins,
        metrics=table(frame, [c for c in TABLE_COLUMNS if c[0] in frame.columns]),
        pairs=table(pairs, PAIR_COLUMNS),
        benchmark=benchmark_section(benchmark),
        images=images,
        per_variable=table(per_variable, pv_columns),
    )


def benchmark_section(benchmark: dict[str, Any] | None) -> dict[str, Any] | None:
    """The speed table of the ``benchmark`` pipeline, if it has been run."""
    if not benchmark:
        return None
    rows = pd.DataFrame(
        [
            {"model": name, **v, "ms_per_event_steady_1core": v.get("one_core", {}).get("ms_per_event_steady")}
            for name, v in benchmark.get("models", {}).items()
        ]
    )
    return {
        "date": str(benchmark.get("date", "")),
        "mc_ms": fmt(benchmark.get("mc", {}).get("ms_per_event_per_core")),
        "note": str(benchmark.get("note", "")),
        "table": table(rows, [c for c in BENCHMARK_COLUMNS if c[0] in rows.columns]),
    }
