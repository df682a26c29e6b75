"""Discovery of generation runs on disk: ``<generated>/<experiment>/<tag>/<prior>/``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratedRun:
    """One generation run: its directory, its statistics and the model directory that made it."""

    experiment: str
    tag: str
    prior: str
    directory: Path
    model_directory: Path
    stats: dict[str, Any]

    @property
    def run_id(self) -> str:
        return f"{self.experiment}/{self.tag}/{self.prior}"

    def tables(self, max_events: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Generated events and objects (the first ``max_events`` events)."""
        from lhc_vae.datasets import ParquetTableDataset

        events = ParquetTableDataset(str(self.directory / "events.parquet")).load()
        objects = ParquetTableDataset(str(self.directory / "objects"), partition_cols=["type"]).load()
        if max_events is not None and len(events) > max_events:
            events = events.iloc[:max_events]
            objects = objects[objects["event_index"].to_numpy() < max_events]
        return events, objects

    def training(self) -> dict[str, Any] | None:
        path = self.model_directory / "training.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def images(self) -> dict[str, Path]:
        """PNG files made with the run: loss curves of its model, mask plots of the run."""
        found = {}
        if (self.model_directory / "loss.png").is_file():
            found["loss"] = self.model_directory / "loss.png"
        for png in sorted((self.directory / "masks").glob("*.png")):
            found[png.stem] = png
        return found


def _is_stale(stats_file: Path, model_directory: Path) -> bool:
    """Generated before its decoder(s) were last saved (the model was retrained since)."""
    decoders = [model_directory / "decoder.keras", *model_directory.glob("components/*/decoder.keras")]
    newest = max((d.stat().st_mtime for d in decoders if d.is_file()), default=None)
    return newest is not None and newest > stats_file.stat().st_mtime


def find_runs(generated_root: str | Path, models_root: str | Path) -> list[GeneratedRun]:
    """Every complete, current run (statistics, events and objects present, generated after its
    model was last trained) below ``generated_root``; stale runs are logged and left out."""
    generated_root, models_root = Path(generated_root), Path(models_root)
    runs = []
    for stats_file in sorted(generated_root.glob("*/*/*/generation_stats.json")):
        directory = stats_file.parent
        if not ((directory / "events.parquet").is_file() and (directory / "objects").is_dir()):
            continue
        prior, tag, experiment = directory.name, directory.parent.name, directory.parent.parent.name
        model_directory = models_root / experiment / tag
        if _is_stale(stats_file, model_directory):
            log.warning("left out %s: generated before its model was retrained; regenerate it with the *_generate pipeline", directory)
            continue
        runs.append(GeneratedRun(experiment, tag, prior, directory, model_directory, json.loads(stats_file.read_text())))
    return runs
