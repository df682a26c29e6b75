"""What ``make run`` does: make the default event sample if it is missing, then run the default pipeline.

    python -m lhc_vae.default_run

The sample is ``data/01_raw/pythia/<process>.csv`` made by the ``mc`` pipeline (process from
``conf/base/globals.yml``); the default pipeline is ``kedro run`` with no arguments.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


def _run(pipeline: str | None) -> None:
    from kedro.framework.session import KedroSession

    with KedroSession.create(project_path=Path.cwd()) as session:
        session.run(pipeline_name=pipeline)


def main() -> int:
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path.cwd())
    from kedro.config import OmegaConfigLoader

    globals_ = OmegaConfigLoader(conf_source="conf", base_env="base", default_run_env="local")["globals"]
    process = globals_["process"]
    raw = Path("data/01_raw/pythia") / f"{process}.csv"
    if raw.is_file() and raw.stat().st_size > 0:
        print(f"Using the existing sample {raw} (delete it to generate a new one).")
    else:
        print(f"{raw} is missing: generating it with the mc pipeline (Pythia8 + FastJet + detector response).")
        _run("mc")
    _run(None)
    print(
        f"Done. Event tables: data/03_primary/pythia/{process}/ · model inputs: data/05_model_input/pythia/{process}/ · "
        f"MC validation plots: data/08_reporting/pythia/{process}/mc_validation/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
