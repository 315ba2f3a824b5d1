"""The dashboards in a real browser: ``dmslab dashboard`` on the synthetic department, Debian's chromium driven by
Playwright, every request that leaves 127.0.0.1 blocked (and a failure), no console or page error, no Python
traceback on the page; on every dashboard a filter changes the chart and the table to the values counted from the
ground truth.

Screenshots go to ``tests/dashboards/screenshots/`` (git-ignored) for review. Timeouts are liveness guards only.
Skips, saying why, without chromium (``apt-get install chromium``) or Playwright (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("playwright", reason="Playwright is not installed (pip install -e '.[dev]')")
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed (pip install -e '.[dev]')")
pytest.importorskip("voila", reason="voila is not installed (pip install -e '.[dashboards]')")

CHROMIUM = os.environ.get("DMSLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
TOKEN = "dashboard-test-token-0123456789"
LIVENESS_MS = 240_000  # generous: the machine may be busy (under-load); nothing here measures speed
TRACEBACK_MARKERS = ("Traceback (most recent call last)", "There was an error when executing cell", "Error:")

# a liveness guard only: the first test also starts the server, its preheated kernels and chromium, which takes
# minutes on a saturated 2-core machine (pytest's default guard of 300 s is too short there)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments: Debian's chromium, never a downloaded browser."""
    if not os.path.isfile(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium, or set DMSLAB_CHROMIUM)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


def _start(settings, folder: Path) -> tuple[subprocess.Popen[bytes], str, Path] | None:
    """``dmslab dashboard`` on a free port, once it answers; ``None`` when another process took the port between
    the choice and the bind (other tests run servers beside this one)."""
    port = _free_port()
    log = folder / f"server-{port}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                         os.environ.get("PYTHONPATH", "")])}
    env.pop("DMSLAB_DATABASE_URL", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dmslab.cli", "--home", str(settings.home), "dashboard",
                                 "--port", str(port), "--token", TOKEN], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=folder)  # not the notebooks' folder
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + LIVENESS_MS / 1000
    while True:
        try:
            with urllib.request.urlopen(f"{base}?token={TOKEN}", timeout=10) as r:
                if r.status == 200 and proc.poll() is None:
                    return proc, base, log
        except http.client.HTTPException:  # something else answers on the port: it was taken
            proc.kill()
            return None
        except OSError:
            pass
        if proc.poll() is not None:
            if "address already in use" in log.read_text().lower():
                return None
            pytest.fail(f"dmslab dashboard did not start:\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"dmslab dashboard did not answer:\n{log.read_text()}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def server(site, tmp_path_factory):
    """``dmslab dashboard`` on the site's store, on a free loopback port; its log is shown when a test fails."""
    folder = tmp_path_factory.mktemp("dashboard-server")
    for _ in range(5):
        if (started := _start(site[0], folder)) is not None:
            break
    else:
        pytest.fail("5 free ports were taken by other processes before dmslab dashboard could listen")
    proc, base, log = started
    yield base, log
    print(f"dmslab dashboard's log:\n{log.read_text()}")  # shown with a failing test
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


class Watch:
    """What a page did that a dashboard must never do: requests off the machine, console and page errors."""

    def __init__(self, page) -> None:
        self.off_machine: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.off_machine.append(url)
            route.abort()

    def check(self, page) -> None:
        text = page.inner_text("body")
        shown = [m for m in TRACEBACK_MARKERS if m in text]
        assert not shown, f"the page shows {shown}"
        assert self.off_machine == [], f"requests that left the machine: {self.off_machine}"
        assert self.errors == [], f"browser errors: {self.errors}"


def _open(page, base: str, name: str, *ready: str) -> Watch:
    """Open dashboard ``name`` with its requests watched, wait for every ``ready`` selector (a screenshot and the
    page's text on failure), take its screenshot and check the page."""
    page.set_default_timeout(LIVENESS_MS)
    page.set_viewport_size({"width": 1300, "height": 1000})
    watch = Watch(page)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.goto(f"{base}voila/render/{name}.ipynb?token={TOKEN}", wait_until="commit")
    try:
        for selector in ready:
            page.wait_for_selector(selector)
    except Exception:
        page.screenshot(path=SCREENSHOTS / f"{name}_failed.png", full_page=True)
        pytest.fail(f"not ready: blocked {watch.off_machine}, errors {watch.errors}, page:\n{page.inner_text('body')}")
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    watch.check(page)
    return watch


def _exam_rows(page) -> dict[str, int]:
    """Room -> studies of the table "Studies per room" (the first table with a "Studies (n)" column)."""
    table = page.locator("table", has_text="Studies (n)").first
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = [[c.strip() for c in r.locator("td, th").all_inner_texts()] for r in table.locator("tbody tr").all()]
    room, n = headers.index("Room"), headers.index("Studies (n)")
    return {r[room]: int(r[n]) for r in rows}


BARS = ".vega-embed:has-text('Studies per room') g.mark-rect path"


def _bars(page) -> int:
    """Bars drawn in the chart "Studies per room" (vega's SVG marks)."""
    return page.locator(BARS).count()


def _choose(page, label: str, value: str) -> None:
    page.get_by_label(label, exact=True).select_option(value)


def test_department_overview_offline_and_filtered(server, site, page):
    base, log = server
    truth = site[1]
    per_room = Counter(s.station_name for s in truth.studies)
    watch = _open(page, base, "department_overview", BARS, "table:has-text('Studies (n)')")
    assert _exam_rows(page) == dict(per_room)
    assert _bars(page) == len(per_room)
    statuses = page.locator("table", has_text="Silent (d)").locator("tbody td:last-child").all_inner_texts()
    assert statuses == ["sending"] * len(per_room)  # every synthetic room sends to the end
    watch.check(page)

    _choose(page, "Room", "CT2")  # one room: one bar, one row, CT2's studies
    page.wait_for_function("() => [...document.querySelectorAll('.vega-embed')].filter(e => e.innerText.includes("
                           "'Studies per room'))[0]?.querySelectorAll('g.mark-rect path').length === 1")
    page.wait_for_function("n => [...document.querySelectorAll('table')].some(t => t.innerText.includes('CT2')"
                           " && t.innerText.includes(n) && !t.innerText.includes('DX1'))", arg=str(per_room["CT2"]))
    assert _exam_rows(page) == {"CT2": per_room["CT2"]}
    page.screenshot(path=SCREENSHOTS / "department_overview_CT2.png", full_page=True)
    watch.check(page)

    _choose(page, "Modality", "MG")  # MG in a CT room: a sentence, never a traceback
    page.wait_for_selector("text=No exams match modality MG, room CT2")
    page.screenshot(path=SCREENSHOTS / "department_overview_empty.png", full_page=True)
    watch.check(page)



BOXES = ".vega-embed:has-text('DLP (mGy·cm) per room') g.mark-rect path"  # per room: the box and its median tick


def _audit_rows(page) -> list[dict[str, str]]:
    """The rows of the table "Room medians against the DRL" (the table with a "Median / DRL" column)."""
    table = page.locator("table", has_text="Median / DRL").first
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = [[c.strip() for c in r.locator("td, th").all_inner_texts()] for r in table.locator("tbody tr").all()]
    return [dict(zip(headers, r, strict=True)) for r in rows]


def _values_per_room(rows: list[dict[str, str]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for r in rows:
        out[r["Room"]] += int(r["Values (n)"])
    return dict(out)


def test_drl_compliance_offline_and_filtered(server, site, page):
    base, log = server
    truth = site[1]
    adult_ct = Counter(s.station_name for s in truth.studies if s.modality == "CT" and s.patient_age_years >= 18)
    watch = _open(page, base, "drl_compliance", BOXES, "table:has-text('Median / DRL')")
    assert _values_per_room(_audit_rows(page)) == dict(adult_ct)  # DLP: one value per adult CT exam
    assert page.locator(BOXES).count() == 2 * len(adult_ct)
    watch.check(page)

    _choose(page, "Room", "CT1")  # one room: one box (and its median tick), CT1's rows only
    page.wait_for_function("() => [...document.querySelectorAll('.vega-embed')].filter(e => e.innerText.includes("
                           "'per room'))[0]?.querySelectorAll('g.mark-rect path').length === 2")
    page.wait_for_function("() => [...document.querySelectorAll('table')].some(t => t.innerText.includes("
                           "'Median / DRL') && t.innerText.includes('CT1') && !t.innerText.includes('CT2'))")
    assert _values_per_room(_audit_rows(page)) == {"CT1": adult_ct["CT1"]}
    page.screenshot(path=SCREENSHOTS / "drl_compliance_CT1.png", full_page=True)
    watch.check(page)

    _choose(page, "Metric", "AGD (mGy)")  # mammography in a CT room: a sentence, never a traceback
    page.wait_for_selector("text=No exams match modality MG, room CT1")
    page.screenshot(path=SCREENSHOTS / "drl_compliance_empty.png", full_page=True)
    watch.check(page)
