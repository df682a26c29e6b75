"""Shared fixtures: telemetry off, and a throw-away copy of the Kedro project."""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # one thread per test process (`make test` runs one per core): TensorFlow and OpenMP (scikit-learn's
    # gradient boosting) would otherwise each start a thread per core in every process
    for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(variable, "1")

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` run first: with two xdist workers, one that starts the suite's longest
    test late makes the other wait for it at the end."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's configuration in a temporary directory, with empty data/ (and MLflow
    tracking off)."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    # MLflow tracking off unless a test asks for it (--params tracking.enabled=true): a store per test
    # project costs seconds per `kedro run`; tests/test_vae_pipelines.py reads tracked runs back. Set in
    # the copy of conf/base: a parameters file in conf/local makes Kedro replace, not merge, a
    # dictionary given with --params (report.n_bootstrap=5 would drop the rest of `report`).
    tracking = tmp_path / "conf" / "base" / "parameters_tracking.yml"
    tracking.write_text(tracking.read_text().replace("enabled: true", "enabled: false", 1))
    # two of the report's twelve leading-object histograms: its figures are drawn twice (PNG files and
    # the page), which cost a minute of the suite; tests/test_plots.py checks the drawing itself
    report = tmp_path / "conf" / "base" / "parameters_report.yml"
    text, n = re.subn(r"(  histogram_variables:.*\n)(    - .*\n)+", r"\1    - jet1_pt\n    - ht\n", report.read_text())
    assert n == 1, "conf/base/parameters_report.yml has no histogram_variables list"
    report.write_text(text)
    (tmp_path / "data").mkdir()
    (tmp_path / "src").mkdir()  # the package itself is installed (editable)
    return tmp_path


def kedro(project_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``kedro <args>`` in ``project_dir``; returns the completed process (text output).

    ``kedro run`` runs in this process through a ``KedroSession`` (Kedro's own API; no interpreter,
    TensorFlow and Kedro start-up per call): its log records and, on failure, the traceback are the
    output, and an exception gives return code 1. Other commands (``viz build``) run the CLI."""
    if args and args[0] == "run":
        proc = _run_in_process(project_dir, args[1:])
    else:
        env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "kedro", *args],
            cwd=project_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    if check and proc.returncode != 0:
        raise AssertionError(f"kedro {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def _run_in_process(project_dir: Path, args: tuple[str, ...]) -> subprocess.CompletedProcess:
    """``kedro run [--pipeline=P] [--params k=v,...]`` through ``KedroSession`` in ``project_dir``."""
    from kedro.framework.cli.utils import _split_params
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    options: dict[str, str] = {}
    items = list(args)
    while items:
        item = items.pop(0)
        key, eq, value = item.partition("=")
        if key not in ("--pipeline", "--params", "--namespaces"):
            raise ValueError(f"the in-process kedro run does not take {item!r}")
        options[key] = value if eq else items.pop(0)
    params = _split_params(None, None, options["--params"]) if "--params" in options else {}
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    cwd, path, pythonpath = Path.cwd(), list(sys.path), os.environ.get("PYTHONPATH")
    returncode, error = 0, ""
    try:
        os.chdir(project_dir)  # the catalog's paths are relative to the project, as for the CLI
        bootstrap_project(project_dir)
        with KedroSession.create(project_path=project_dir, runtime_params=params) as session:
            root.addHandler(handler)  # after the session has configured logging
            namespaces = options["--namespaces"].split(",") if "--namespaces" in options else None
            session.run(pipeline_name=options.get("--pipeline"), namespaces=namespaces)
    except Exception:
        returncode, error = 1, traceback.format_exc()
    finally:
        root.removeHandler(handler)
        os.chdir(cwd)
        sys.path[:] = path  # bootstrap_project prepends the project's src/ to both
        if pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = pythonpath
        import keras

        keras.backend.clear_session()  # every run builds its models afresh, as a new process would
    return subprocess.CompletedProcess(["kedro", "run", *args], returncode, buffer.getvalue(), error)
