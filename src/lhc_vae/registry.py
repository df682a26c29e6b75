"""The experiment registry (issue #13): ``experiments`` and ``beyond_thesis`` of
``conf/base/parameters_experiments.yml``, read once when the pipelines are built.

Kedro builds its pipelines before any run parameter is known, so the registry is read from the
project's configuration (through the project's own config loader, :func:`project_config`), not
from ``--params``; the runs' namespaces carry their alpha or beta, e.g. ``exp3_sweep.beta_0p5``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lhc_vae.models.experiments import EXPERIMENTS, variator_of
from lhc_vae.tags import derived_namespace, run_tag


@dataclass(frozen=True)
class Entry:
    """One experiment: its default alpha/beta and its sweep grid. What it is (one VAE or one per
    component, alpha or beta) is code: :mod:`lhc_vae.models.experiments`."""

    name: str
    default: float
    sweep: tuple[float, ...]

    @property
    def variator(self) -> str:
        return variator_of(self.name)

    @property
    def pipeline(self) -> str:
        """``single`` (one VAE, :mod:`lhc_vae.pipelines.vae`) or ``multi`` (:mod:`lhc_vae.pipelines.multi`)."""
        return "single" if self.name in EXPERIMENTS else "multi"

    @property
    def default_namespace(self) -> str:
        """Namespace of the default run, ``<experiment>_sweep.<tag>``."""
        return f"{self.name}_sweep.{run_tag(self.variator, self.default)}"


@dataclass(frozen=True)
class Registry:
    experiments: dict[str, Entry]
    beyond_thesis: str

    def beyond_namespaces(self) -> tuple[str, str]:
        """The BGMM run and the refined run of the ``beyond_thesis`` experiment's default models."""
        trained = self.experiments[self.beyond_thesis].default_namespace
        return derived_namespace(trained, "bgmm"), derived_namespace(trained, "refined")

    def default_runs(self) -> tuple[str, ...]:
        """Namespaces of the default pipeline's runs, in the report's order."""
        return (*(e.default_namespace for e in self.experiments.values()), *self.beyond_namespaces())


def from_parameters(parameters: dict[str, Any], source: str = "parameters") -> Registry:
    """The registry of a parameters dict; an entry that cannot be used is named with the reason."""
    try:
        table, beyond = parameters["experiments"], parameters["beyond_thesis"]
    except KeyError as err:
        raise KeyError(f"{source}: no {err.args[0]!r}; see conf/base/parameters_experiments.yml") from None
    entries = {}
    for name, spec in table.items():
        try:
            variator_of(name)
        except KeyError as err:
            raise ValueError(f"{source}: experiments.{name}: {err.args[0]}") from None
        missing = {"default", "sweep"} - set(spec)
        if missing:
            raise ValueError(f"{source}: experiments.{name} has no {', '.join(sorted(missing))}")
        entries[name] = Entry(name, float(spec["default"]), tuple(float(v) for v in spec["sweep"]))
    if beyond not in entries or entries[beyond].pipeline != "single" or variator_of(beyond) != "beta":
        raise ValueError(f"{source}: beyond_thesis must name a single-model beta-VAE experiment, got {beyond!r}")
    return Registry(entries, beyond)


def project_config(project_path: Path | None = None) -> Any:
    """The project's config loader, as ``kedro run`` builds it (``settings.py``)."""
    from kedro.framework.project import settings
    from kedro.utils import find_kedro_project

    root = project_path or find_kedro_project(Path.cwd()) or Path.cwd()
    return settings.CONFIG_LOADER_CLASS(
        conf_source=str(root / settings.CONF_SOURCE), env=None, **settings.CONFIG_LOADER_ARGS
    )


def load_registry(project_path: Path | None = None) -> Registry:
    """The registry of the project's parameters (``conf/base``, overridden by ``conf/local``)."""
    return from_parameters(project_config(project_path)["parameters"], "conf/*/parameters_experiments.yml")
