"""Dark Machines reader and writer (thesis §3.2)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.datasets import DarkMachinesDataset
from lhc_vae.events.darkmachines import iter_chunks, parse_lines, read_darkmachines, write_darkmachines
from lhc_vae.events.schema import EventTables

# Lines in the style of the challenge files: j and b interleaved by pT, scientific notation,
# repeated event IDs, with and without the trailing ';', CRLF and LF endings.
REAL_FORMAT = (
    "417;ttbar;0.0129;68578.1;-2.59153;j,275622,197531,-0.846061,1.01863;b,1.2587e+06,190066,2.57716,-2.34998;"
    "j,146425,105806,0.877082,-0.829813;e-,70712.9,43616.5,-1.05737,2.67291;\r\n"
    "417;ttbar;0.0129;2.5417e+04;1.43506;b,166327,120339,0.851399,-0.913227;m+,53129.4,40251,0.769937,2.43219\n"
    "9;ttbar;0.0129;12034.5;0.1;g,45000,42000,-0.3,3.14159;\n"
)


def test_real_format_lines(tmp_path):
    path = tmp_path / "ttbar.csv"
    path.write_bytes(REAL_FORMAT.encode())
    parsed = read_darkmachines(path)
    assert parsed.n_lines == 3 and parsed.n_rejected == 0
    ev, obj = parsed.tables.events, parsed.tables.objects
    assert ev["event_id"].tolist() == [417, 417, 9]
    assert ev["process_id"].tolist() == ["ttbar"] * 3
    np.testing.assert_allclose(ev["met"], [68.5781, 25.417, 12.0345])  # MeV -> GeV
    np.testing.assert_allclose(ev["met_phi"], [-2.59153, 1.43506, 0.1])
    assert obj["type"].astype(str).tolist() == ["j", "b", "j", "e-", "b", "m+", "g"]
    assert obj["event_index"].tolist() == [0, 0, 0, 0, 1, 1, 2]
    np.testing.assert_allclose(obj["e"].iloc[1], 1258.7)  # 1.2587e+06 MeV
    np.testing.assert_allclose(obj["pt"].iloc[0], 197.531)
    assert (obj["phi"].abs() <= np.pi).all()


def test_round_trip(tmp_path):
    tables = make_tables(3000, seed=3)
    for name in ("s.csv", "s.csv.gz"):
        path = tmp_path / name
        write_darkmachines(tables, path, chunk_events=1000)
        parsed = read_darkmachines(path, chunk_lines=700)
        assert parsed.n_rejected == 0 and parsed.n_lines == 3000
        back = parsed.tables
        for col in ("event_id", "weight", "met", "met_phi"):
            np.testing.assert_allclose(back.events[col], tables.events[col], rtol=1e-12)
        # The writer puts objects in Dark Machines order; compare per (event, type, pT rank).
        key = ["event_index", "type", "pt"]
        a = tables.objects.sort_values(key).reset_index(drop=True)
        b = back.objects.sort_values(key).reset_index(drop=True)
        assert a["type"].astype(str).tolist() == b["type"].astype(str).tolist()
        np.testing.assert_array_equal(b["event_index"], a["event_index"])
        for col in ("e", "pt", "eta", "phi"):  # float32 in memory: equal to float32 precision
            np.testing.assert_allclose(b[col], a[col].astype(np.float32), rtol=2e-7, atol=1e-7)
    with gzip.open(tmp_path / "s.csv.gz", "rt") as f:
        assert f.readline().endswith(";\n")


def test_writer_orders_objects_like_the_challenge():
    objects = pd.DataFrame(
        {
            "event_index": [0, 0, 0, 0, 0],
            "type": pd.Categorical(
                ["g", "e+", "j", "b", "j"], categories=["j", "b", "e-", "e+", "m-", "m+", "g"], ordered=True
            ),
            "e": [50.0, 40.0, 40.0, 90.0, 200.0],
            "pt": [30.0, 35.0, 30.0, 80.0, 150.0],
            "eta": [0.0] * 5,
            "phi": [0.0] * 5,
        }
    )
    events = pd.DataFrame({"event_id": [1], "process_id": ["ttbar"], "weight": [1.0], "met": [10.0], "met_phi": [0.5]})
    from lhc_vae.events.darkmachines import format_lines

    line = format_lines(EventTables(events, objects)).to_pylist()[0]
    symbols = [f.split(",")[0] for f in line.rstrip(";").split(";")[5:]]
    assert symbols == ["j", "b", "j", "e+", "g"]  # jets and b-jets by pT, then leptons, then photons
    assert line.startswith("1;ttbar;1;10000;0.5;j,200000,150000,")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        ("1;ttbar;1;2", "has 4 ';'-separated fields"),
        ("1;ttbar;1;2;0;j,1,1,0", "object 1: has 4 comma-separated fields"),
        ("1;ttbar;1;2;0;j,30000,20000,0,0;q,1,1,0,0", "object 2: unknown symbol 'q'"),
        ("x;ttbar;1;2;0;j,30000,20000,0,0", "event ID is not an integer"),
        ("1;ttbar;1;abc;0;j,30000,20000,0,0", "non-numeric weight, MET or METphi"),
        ("1;ttbar;1;2;0;j,30000,20k,0,0", "object 1: non-numeric value"),
        ("1;ttbar;1;2;0;j,30000,20000,nan,0", "object 1: non-finite value"),
        ("1;ttbar;1;inf;0;j,30000,20000,0,0", "non-finite weight, MET or METphi"),
        ("1;ttbar;1;-5;0;j,30000,20000,0,0", "negative MET"),
        ("1;ttbar;1;2;0;j,30000,-20000,0,0", "object 1: negative energy or pT"),
        ("1;ttbar;1;2;0;j,-30000,20000,0,0", "object 1: negative energy or pT"),
        ("1;ttbar;1;2;0;j,30000,20000,0,3.2", "object 1: |phi| > pi"),
        ("1;ttbar;1;2;-3.2;j,30000,20000,0,0", "|METphi| > pi"),
        ("1;ttbar;1;2;0;j,19000,20000,0,0", "object 1: E smaller than pT"),
    ],
)
def test_bad_lines_are_rejected_and_the_rest_continues(line, reason):
    good = "7;ttbar;1;2000;0.1;j,30000,20000,0.1,0.2;"
    chunk = parse_lines([good, line, good], first_line_number=10, source="f.csv")
    assert len(chunk.events) == 2 and chunk.events["line"].tolist() == [10, 12]
    assert len(chunk.objects) == 2 and chunk.objects["event_index"].tolist() == [0, 1]
    assert len(chunk.rejects) == 1
    row = chunk.rejects.iloc[0]
    assert row["file"] == "f.csv" and row["line"] == 11
    assert row["reason"].startswith(reason), row["reason"]
    assert row["line_start"] == line[:80]


def test_rounding_tolerances_accept_text_precision():
    # phi printed as 3.1415927 (float32 pi) and E a hair below pT from rounding are fine.
    chunk = parse_lines(["1;p;1;2;3.1415927;j,20000,20001,0.0,-3.1415927;"])
    assert len(chunk.rejects) == 0
    assert chunk.objects["phi"].iloc[0] == pytest.approx(-np.pi)
    assert chunk.events["met_phi"].iloc[0] == pytest.approx(np.pi)


def test_line_numbers_across_chunks(tmp_path):
    lines = ["1;p;1;2;0;j,30000,20000,0,0;"] * 25
    lines[17] = "1;p;1;2;0;j,30000,20000,0,9;"
    path = tmp_path / "x.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = list(iter_chunks(path, chunk_lines=4))
    assert len(chunks) == 7
    rejects = pd.concat([c.rejects for c in chunks])
    assert rejects["line"].tolist() == [18]
    assert sum(len(c.events) for c in chunks) == 24


def test_dataset_missing_and_empty_files_name_the_command(tmp_path):
    hint = "create it with `kedro run --pipeline=mc --params process=ttbar`"
    missing = DarkMachinesDataset(str(tmp_path / "nope.csv"), missing_hint=hint)
    with pytest.raises(DatasetError, match=r"nope\.csv does not exist; create it with `kedro run --pipeline=mc"):
        missing.load()
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DatasetError, match=r"empty\.csv is empty"):
        DarkMachinesDataset(str(tmp_path / "empty.csv"), missing_hint=hint).load()


def test_dataset_save_load(tmp_path):
    tables = make_tables(50, seed=1)
    ds = DarkMachinesDataset(str(tmp_path / "out" / "g.csv"))
    ds.save(tables)
    parsed = ds.load().read()
    assert parsed.tables.n_events == 50 and parsed.n_rejected == 0
    assert len(parsed.tables.objects) == len(tables.objects)
    assert not list((tmp_path / "out").glob(".*tmp*"))  # the atomic write left no temporary file
