"""What ``make run`` does: make the default event sample if it is missing, then run the default pipeline.

    python -m lhc_vae.default_run

The sample is ``data/01_raw/pythia/<process>.csv`` made by the ``mc`` pipeline (process from
``conf/base/globals.yml``); the default pipeline is ``kedro run`` with no arguments, run with the
overrides of ``make_run`` in ``conf/base/parameters_make_run.yml`` (fewer epochs, so a fresh
2-core machine finishes in under 20 minutes; ``kedro run`` alone uses the thesis's epoch counts as upper bounds).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


def _run(pipeline: str | None, runtime_params: dict | None = None) -> None:
    from kedro.framework.session import KedroSession

    with KedroSession.create(project_path=Path.cwd(), runtime_params=runtime_params or {}) as session:
        session.run(pipeline_name=pipeline)


def main() -> int:
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path.cwd())
    from lhc_vae.registry import project_config

    loader = project_config(Path.cwd())
    process = loader["globals"]["process"]
    sizing = loader["parameters"].get("make_run", {})
    raw = Path("data/01_raw/pythia") / f"{process}.csv"
    if raw.is_file() and raw.stat().st_size > 0:
        print(f"Using the existing sample {raw} (delete it to generate a new one).")
    else:
        print(f"{raw} is missing: generating it with the mc pipeline (Pythia8 + FastJet + detector response).")
        _run("mc")
    print(
        "Running the default pipeline (preprocessing, four experiments, the BGMM and refined runs, report) "
        f"with {sizing or 'thesis settings'}."
    )
    _run(None, sizing)
    print(f"Done. Open data/08_reporting/pythia/{process}/report.html in a browser.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
