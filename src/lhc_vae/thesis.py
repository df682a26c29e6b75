"""Published results of the thesis, the numbers to beat: Table 8.1 (ttbar) and Table 7.5 (stop_02).

Each row: (experiment, alpha, beta, WD, JS, KL, IER %, ms per event). The thesis's WD is the W1
between normalised bin heights (our ``wd_thesis``), on 5.4M challenge events.
"""

from __future__ import annotations

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
