"""The report page checked in a real browser (issue #15 item 3): Debian's chromium driven by
Playwright's Python API (Playwright cannot download its own browser here; `.ci/run` installs
chromium). Every image must load, the metrics table must hold one row per run plus the floor and
the thesis rows, and the page must log no console error."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml
from playwright.sync_api import sync_playwright

from lhc_vae.evaluation.report import png_base64, render_html

CHROMIUM = Path("/usr/bin/chromium")


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """An HTTP server for ``directory`` on a free local port, for the length of the block."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


ROOT = Path(__file__).resolve().parents[1]


def _inspect(html_file: Path, screenshot: Path | None = None) -> dict:
    """Open ``html_file`` in headless chromium: each image's natural width, the rows of the first
    table, and the console errors and page errors it logged."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (.ci/run does)")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(html_file.as_uri())
        page.wait_for_load_state("load")
        widths = page.evaluate("() => Array.from(document.images).map(i => i.naturalWidth)")
        rows = page.evaluate(
            "() => Array.from(document.querySelector('table').tBodies[0].rows).map(r => r.cells[0].innerText)"
        )
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return {"widths": widths, "rows": rows, "errors": errors}


def _page(tmp_path: Path, images: dict[str, str]) -> Path:
    metrics = pd.DataFrame(
        [
            {"run": "truth vs truth (floor)", "subset": "all events", "auc_full": 0.47, "auc_full_err": 0.01},
            {"run": "baseline/alpha_0p2/truth", "subset": "all events", "auc_full": 0.56, "auc_full_err": 0.01},
            {"run": "exp2/beta_0p2/normal", "subset": "all events", "auc_full": 0.77, "auc_full_err": 0.01},
        ]
    ).assign(rank_auc_full=[None, 1, 2])
    thesis = yaml.safe_load((ROOT / "conf" / "base" / "parameters_thesis.yml").read_text())["thesis_tables"]
    html = render_html(
        "ttbar", "pythia", metrics, pd.DataFrame(), pd.DataFrame(), images, None, "The truth.", 30, thesis["ttbar"]
    )
    path = tmp_path / "report.html"
    path.write_text(html)
    return path


def test_the_report_renders_in_chromium_with_every_image_and_row(tmp_path):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.hist([1, 2, 2, 3])
    images = {"hist_met": png_base64(fig), "hist_ht": png_base64(fig)}
    plt.close(fig)
    seen = _inspect(_page(tmp_path, images), tmp_path / "report.png")
    assert len(seen["widths"]) == 2 and all(w > 0 for w in seen["widths"])
    # the floor, the two runs (ranked), then Table 8.1's four rows
    assert seen["rows"] == [
        "truth vs truth (floor)",
        "baseline/alpha_0p2/truth",
        "exp2/beta_0p2/normal",
        "thesis baseline α=0.2",
        "thesis exp1 α=0.3",
        "thesis exp2 β=1.5",
        "thesis exp3 β=1.5",
    ]
    assert seen["errors"] == []
    assert (tmp_path / "report.png").stat().st_size > 10_000  # a full-page screenshot, not a blank


def test_the_browser_check_sees_a_broken_image(tmp_path):
    """The check itself: an image whose data is not a PNG has natural width 0 in the browser."""
    seen = _inspect(_page(tmp_path, {"broken": "AAAA"}))
    assert seen["widths"] == [0]
