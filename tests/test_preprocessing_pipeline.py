"""`kedro run --pipeline=preprocessing` end to end on small files the test writes itself."""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, kedro
from kedro.io import DatasetError
from playwright.sync_api import expect, sync_playwright

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.datasets import DarkMachinesDataset, ParquetTableDataset
from lhc_vae.events.darkmachines import read_darkmachines, write_darkmachines
from lhc_vae.events.features import FeatureScaler
from lhc_vae.events.split import concat_tables

pytestmark = pytest.mark.slow


def test_two_processes_never_overwrite_each_other(project):
    raw = project / "data" / "01_raw" / "pythia"
    write_darkmachines(make_tables(1500, seed=1, process="ttbar"), raw / "ttbar.csv")
    write_darkmachines(make_tables(800, seed=2, process="stop_02"), raw / "stop_02.csv")
    kedro(project, "run", "--pipeline=preprocessing")
    kedro(project, "run", "--pipeline=preprocessing", "--params", "process=stop_02")

    for process, n in (("ttbar", 1500), ("stop_02", 800)):
        primary = project / "data" / "03_primary" / "pythia" / process
        events = pd.read_parquet(primary / "events.parquet")
        assert len(events) == n
        assert set(events["process_id"]) == {process}
        assert events["event_index"].tolist() == list(range(n))
        assert events["passes_selection"].all()  # every synthetic event has a hard jet
        assert events["split"].value_counts().to_dict() == {
            "train": n - 2 * round(0.1 * n),
            "validation": round(0.1 * n),
            "test": round(0.1 * n),
        }
        objects = ParquetTableDataset(str(primary / "objects"), partition_cols=["type"]).load()
        assert sorted(p.name for p in (primary / "objects").iterdir()) == sorted(
            f"type={s}" for s in ("j", "b", "e-", "e%2B", "m-", "m%2B", "g")
        )
        assert len(objects) == events["n_objects"].sum()
        counts = objects.groupby(["event_index", "type"], observed=True).size()
        assert counts.xs("j", level="type").reindex(range(n), fill_value=0).tolist() == events["n_j"].tolist()
        # position is the pT rank within the type: leading object first
        lead = objects[objects["position"] == 0].set_index(["event_index", "type"])["pt"]
        sub = objects[objects["position"] == 1].set_index(["event_index", "type"])["pt"]
        assert (lead.reindex(sub.index) >= sub).all()

        report = json.loads((primary / "preprocessing_report.json").read_text())
        assert report["n_lines"] == n and report["n_rejected"] == 0 and report["n_events"] == n
        assert (primary / "rejects.csv").read_text().startswith("file,line,reason,line_start")

        model = project / "data" / "05_model_input" / "pythia" / process
        scaler = FeatureScaler.from_dict(json.loads((model / "scalers.json").read_text()))
        mobj = pd.read_parquet(model / "objects.parquet")
        train_jets = mobj[(mobj["split"] == "train") & (mobj["type"] == "j")]
        assert train_jets["pt"].mean() == pytest.approx(0.0, abs=1e-4)  # fitted on train only
        train_jets_gev = objects[
            (objects["type"] == "j") & events["split"].eq("train").to_numpy()[objects["event_index"]]
        ]
        # the default representation is `detector`: jet pT enters as ln(pT - 20 GeV) (issue #12)
        assert scaler.representation == "detector"
        assert scaler.objects["j"]["pt"].mean == pytest.approx(
            np.log(train_jets_gev["pt"].astype(float) - 20.0).mean(), rel=1e-5
        )


REAL_CHAN1 = ROOT.parent / "shared" / "data" / "darkmachines_chan1"


def test_a_folder_of_real_files_is_one_sample_parsed_one_file_per_dask_task(project):
    """Issue #14 item 3: the six real chan1 files in data/01_raw/darkmachines/<process>/ preprocess in
    one run, on a 2-worker LocalCluster, to the same tables as reading the files one by one."""
    folder = project / "data" / "01_raw" / "darkmachines" / "chan1"
    folder.mkdir(parents=True)
    files = sorted(REAL_CHAN1.glob("*.csv"))
    assert len(files) == 6
    for f in files[:5]:
        shutil.copy(f, folder / f.name)
    with gzip.open(folder / (files[5].name + ".gz"), "wt") as out:  # a compressed member
        out.write(files[5].read_text())
    params = "source=darkmachines,process=chan1,preprocessing.parse.n_workers=2"
    kedro(project, "run", "--pipeline=preprocessing", "--params", params)

    primary = project / "data" / "03_primary" / "darkmachines" / "chan1"
    report = json.loads((primary / "preprocessing_report.json").read_text())
    assert report["n_lines"] == 22_629 and report["n_rejected"] == 0 and report["parse_workers"] == 2
    assert [p.split("/")[-1] for p in report["raw_files"]] == [f.name for f in files[:5]] + [files[5].name + ".gz"]
    # the same events, in file order, as the single-file reader gives file by file
    one_by_one = concat_tables([read_darkmachines(f).tables for f in files])
    events = pd.read_parquet(primary / "events.parquet")
    assert len(events) == 22_629 and events["event_index"].tolist() == list(range(22_629))
    for column in ("event_id", "process_id", "met", "met_phi"):
        np.testing.assert_array_equal(events[column].to_numpy(), one_by_one.events[column].to_numpy())
    objects = ParquetTableDataset(str(primary / "objects"), partition_cols=["type"]).load()
    assert len(objects) == len(one_by_one.objects)
    assert objects.groupby("event_index").size().sum() == events["n_objects"].sum()


def test_a_bad_line_in_a_folder_keeps_its_file_and_line(tmp_path):
    folder = tmp_path / "stlp"
    folder.mkdir()
    lines = (REAL_CHAN1 / "stlp_st1000_chan1.csv").read_text().splitlines(keepends=True)
    (folder / "a.csv").write_text("".join(lines[:100]))
    (folder / "b.csv").write_text("".join([*lines[100:110], "12;stlp;1;nonsense;;\n", *lines[110:120]]))
    raw = DarkMachinesDataset(str(tmp_path / "stlp.csv"), folder=str(folder)).load()
    chunks = list(raw.chunks(n_workers=2))
    assert [c.n_lines for c in chunks] == [100, 21] and sum(len(c.events) for c in chunks) == 120
    rejects = chunks[1].rejects
    assert len(rejects) == 1 and rejects["file"].iloc[0].endswith("b.csv") and rejects["line"].iloc[0] == 11
    (tmp_path / "stlp.csv").write_text("".join(lines[:5]))
    with pytest.raises(DatasetError, match=r"both .*stlp\.csv and the folder .*stlp exist"):
        DarkMachinesDataset(str(tmp_path / "stlp.csv"), folder=str(folder)).load()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"holds no \*\.csv or \*\.csv\.gz file"):
        DarkMachinesDataset(str(tmp_path / "empty.csv"), folder=str(empty)).load()


def test_too_many_rejects_fail_with_one_sentence(project):
    raw = project / "data" / "01_raw" / "pythia" / "ttbar.csv"
    write_darkmachines(make_tables(300, seed=1), raw)
    lines = raw.read_text().splitlines()
    lines[10] = lines[10].replace("j,", "q,", 1)
    lines[20] = "garbage"
    raw.write_text("\n".join(lines) + "\n")
    proc = kedro(project, "run", "--pipeline=preprocessing", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "2 of 300 lines" in out and "max_reject_fraction" in out and "rejects.csv" in out
    rejects = pd.read_csv(project / "data" / "03_primary" / "pythia" / "ttbar" / "rejects.csv")
    assert rejects["line"].tolist() == [11, 21]
    assert rejects["reason"].iloc[0].endswith("unknown symbol 'q'")

    # Raising the threshold lets the same file through, with the two lines recorded.
    kedro(project, "run", "--pipeline=preprocessing", "--params", "preprocessing.max_reject_fraction=0.01")
    report = json.loads(
        (project / "data" / "03_primary" / "pythia" / "ttbar" / "preprocessing_report.json").read_text()
    )
    assert report["n_rejected"] == 2 and report["n_events"] == 298


def test_missing_raw_file_names_the_command(project):
    proc = kedro(project, "run", "--pipeline=preprocessing", "--params", "process=stop_02", check=False)
    assert proc.returncode != 0
    out = "".join((proc.stdout + proc.stderr).split())  # rich wraps long lines anywhere
    assert "data/01_raw/pythia/stop_02.csvdoesnotexist" in out
    assert "kedrorun--pipeline=mc--paramsprocess=stop_02" in out


def test_viz_build_writes_pipeline_json(project):
    kedro(project, "viz", "build")
    main = json.loads((project / "build" / "api" / "main").read_text())
    names = {n["name"] for n in main["nodes"]}
    assert {"Parse Raw Events Node", "Build Primary Tables Node"} & names or {
        "parse_raw_events_node",
        "build_primary_tables_node",
    } & names
    assert (project / "build" / "api" / "pipelines" / "preprocessing").is_file()
    # the DAG kedro-viz draws: primary tables -> training -> generation -> report, for every default run
    default = json.loads((project / "build" / "api" / "pipelines" / "__default__").read_text())
    ids = {n["name"]: n["id"] for n in default["nodes"] if n["type"] != "task"}
    task = {n["id"] for n in default["nodes"] if n["type"] == "task" and n["name"] == "compute_metrics"}
    after: dict[str, set[str]] = {}
    for e in default["edges"]:
        after.setdefault(e["source"], set()).add(e["target"])

    def reaches(start: str, targets: set[str]) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node in targets:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(after.get(node, ()))
        return False

    for ns in ("baseline_sweep.alpha_0p2", "exp1_sweep.alpha_0p3", "exp2_sweep.beta_0p2", "exp3_sweep.beta_0p5"):
        assert reaches(ids["model_input_events"], {ids[f"{ns}.training"]}), ns
        assert reaches(ids[f"{ns}.training"], task) and reaches(ids[f"{ns}.generated_events"], task), ns

    # the page kedro-viz built, in headless chromium (served over HTTP: the app fetches its api/ files):
    # the pipeline selector lists every registered pipeline, and the default pipeline shows its nodes
    # and its runs as collapsible namespaces (issue #15 item 3)
    from test_browser import CHROMIUM, serve

    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (.ci/run does)"

    from lhc_vae.pipeline_registry import register_pipelines

    pipes = register_pipelines()
    with serve(project / "build") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.wait_for_selector("[data-test=kedro-pipeline-selector]")
        listed = page.eval_on_selector_all(
            "[data-test=kedro-pipeline-selector] .menu-option__content", "els => els.map(e => e.title)"
        )
        expect(page.locator("li[title=Nodes] .filter-row__count")).to_have_text(str(len(pipes["__default__"].nodes)))
        count = page.locator("li[title=Nodes] .filter-row__count").inner_text()
        rows = page.eval_on_selector_all(".node-list-tree-item-row", "els => els.map(e => e.innerText.trim())")
        page.screenshot(path=str(project / "data" / "08_reporting" / "kedro_viz.png"))
        browser.close()
    assert sorted(listed) == sorted(pipes)
    assert int(count) == len(pipes["__default__"].nodes)
    top_level = {n.namespace.split(".")[0] for n in pipes["__default__"].nodes if n.namespace}
    assert top_level == {"baseline_sweep", "exp1_sweep", "exp2_sweep", "exp3_sweep"}  # BGMM, refined: in exp3_sweep
    assert top_level <= set(rows)


def test_notebook_runs_top_to_bottom_through_the_catalog(project):
    import nbclient
    import nbformat
    from conftest import ROOT

    write_darkmachines(make_tables(600, seed=4), project / "data" / "01_raw" / "pythia" / "ttbar.csv")
    kedro(project, "run", "--pipeline=preprocessing")
    (project / "notebooks").mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "data_analysis.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project / "notebooks")}}
    ).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "600 events" in printed
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
