"""The report: a self-contained HTML page (images embedded) with the thesis's published numbers
as reference rows (Table 8.1 for ttbar, Table 7.5 for stop_02)."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from typing import Any

import pandas as pd

#: Published results of the thesis: (experiment, alpha, beta, WD, JS, KL, IER %, ms per event).
THESIS_TABLES: dict[str, list[tuple[str, float | None, float | None, float, float, float, float, float]]] = {
    "ttbar": [  # Table 8.1
        ("baseline", 0.2, None, 0.002077, 0.037879, 0.013133, 1.68, 1.23),
        ("exp1", 0.3, None, 0.000973, 0.023365, 0.004781, 0.46, 339.90),
        ("exp2", None, 1.5, 0.002771, 0.055761, 0.016530, 4.55, 74.64),
        ("exp3", None, 1.5, 0.004172, 0.067629, 0.022565, 4.40, 0.95),
    ],
    "stop_02": [  # Table 7.5
        ("exp2", None, 1.5, 0.002388, 0.050689, 0.013760, 5.35, 75.07),
        ("exp3", None, 1.5, 0.003779, 0.064287, 0.020012, 2.80, 0.95),
    ],
}

TABLE_COLUMNS = [
    ("run", "run"),
    ("from_noise", "from noise"),
    ("wd_thesis", "WD (thesis: bin heights)"),
    ("js", "JS (base 2)"),
    ("kl", "KL"),
    ("w1_sample", "W1 sample [σ truth]"),
    ("invalid_event_rate_percent", "IER %"),
    ("ms_per_event_t1k", "ms/event (T1K/1000)"),
    ("ms_per_event_steady", "ms/event steady"),
    ("classifier_auc", "classifier AUC"),
    ("fpd", "FPD"),
    ("kpd", "KPD"),
    ("correlation_distance", "corr. distance"),
    ("multiplicity_js_mean", "multiplicity JS"),
]


def thesis_rows(process: str) -> pd.DataFrame:
    rows = [
        {
            "run": f"thesis {exp} " + (f"α={a}" if a is not None else f"β={b}"),
            "from_noise": exp in ("exp2", "exp3"),
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


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame, columns: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in columns)
    body = []
    for _, row in frame.iterrows():
        cls = ' class="ref"' if row.get("reference") is True else (' class="floor"' if row.get("run") == "truth vs truth (floor)" else "")
        body.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(row.get(key, float('nan')))}</td>" for key, _ in columns) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(
    process: str,
    source: str,
    metrics: pd.DataFrame,
    per_variable: pd.DataFrame,
    images: dict[str, str],
    benchmark: dict[str, Any] | None,
) -> str:
    """The report page. ``images`` maps a caption to a base64 PNG."""
    table = pd.concat([metrics, thesis_rows(process)], ignore_index=True)
    columns = [c for c in TABLE_COLUMNS if c[0] in table.columns]
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(name)}"><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, data in images.items()
    )
    bench = ""
    if benchmark:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{_fmt(v.get('ms_per_event_t1k'))}</td><td>{_fmt(v.get('ms_per_event_steady'))}</td>"
            f"<td>{_fmt(v.get('speedup_vs_mc'))}</td><td>{_fmt(v.get('roofline_percent'))}</td></tr>"
            for name, v in benchmark.get("models", {}).items()
        )
        mc = benchmark.get("mc", {})
        bench = (
            f"<h2>Speed (benchmark of {html.escape(str(benchmark.get('date', '')))})</h2>"
            f"<p>Monte Carlo chain (Pythia8 + FastJet + detector response): <b>{_fmt(mc.get('ms_per_event_per_core'))} ms</b> "
            f"per accepted event per core. Matmul peak measured in the same run: {_fmt(benchmark.get('matmul_gflops'))} GFLOP/s.</p>"
            "<table><thead><tr><th>model</th><th>ms/event (1k batch)</th><th>ms/event (large batch)</th><th>speed-up vs MC</th>"
            f"<th>% of matmul peak</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    per_var = per_variable.copy()
    pv_cols = [(c, c) for c in ["run", "variable", "group", "n_truth", "n_generated", "wd_thesis", "w1_sample", "js", "kl"] if c in per_var]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lhc-vae report: {html.escape(process)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1400px; }}
table {{ border-collapse: collapse; font-size: 12px; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
th {{ background: #f0f0f0; }} td:first-child {{ text-align: left; }}
tr.ref {{ background: #fff6d8; }} tr.floor {{ background: #e3f2e3; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 640px; }}
figcaption {{ font-size: 11px; color: #555; }}
</style></head><body>
<h1>Generated vs truth: {html.escape(process)} (source {html.escape(source)})</h1>
<p>Made {datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}. Truth is the held-out test split, never seen in training.
Each model is compared with one half of it; the <b>floor</b> row compares that half with the other half, so it shows the
statistical limit at this sample size. Yellow rows are the thesis's published numbers (on 5.4M challenge events;
their WD is taken between normalised bin heights, which is our <code>wd_thesis</code>; <code>W1 sample</code> is the true
Wasserstein distance between the samples in units of the truth's standard deviation). WD, JS, KL combine the variables with
the particle-count weights of thesis eq. 6.5. Classifier AUC: 0.5 means indistinguishable. Runs marked "from noise: no"
start every event from a real validation event (alpha-VAE truth perturbation).</p>
{_table(table, columns)}
{bench}
<h2>Figures</h2>
{figures}
<h2>Per-variable distances</h2>
<details><summary>show ({len(per_var)} rows)</summary>{_table(per_var, pv_cols)}</details>
</body></html>
"""
