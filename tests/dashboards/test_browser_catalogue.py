"""The dashboards of the catalogue (workload, protocol explorer, dose vs size, high-dose fluoroscopy) in a real
browser, as ``test_browser.py`` drives the department overview and with the same rules and skips (its server,
chromium and request watch): every request that leaves 127.0.0.1 blocked and a failure, no console or page error,
no Python traceback; a filter change changes the chart or table to the values counted from the ground truth.

Screenshots go to ``tests/dashboards/screenshots/``. Timeouts are liveness guards only.
"""

from __future__ import annotations

from collections import Counter

import pytest

# the same skip rule (Playwright, voila, chromium) and the same fixtures: importing the module
# applies its module-level skip here as well
from test_browser import (  # noqa: F401 (fixtures)
    SCREENSHOTS,
    _choose,
    _open,
    browser_type_launch_args,
    server,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]  # liveness guard, as in test_browser.py


def _table(page, has_text: str) -> list[dict[str, str]]:
    table = page.locator("table", has_text=has_text).first
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = [[c.strip() for c in r.locator("td, th").all_inner_texts()] for r in table.locator("tbody tr").all()]
    return [dict(zip(headers, r, strict=False)) for r in rows]


def test_workload(server, site, page):  # noqa: F811 (the imported fixture)
    base, _log = server
    truth = site[1]
    watch = _open(page, base, "workload", ".vega-embed:has-text('Studies per month and room') g.mark-rect path")
    months = Counter((s.station_name, s.study_datetime[:7]) for s in truth.studies)
    got = {(r["Room"], r["Month"]): int(r["Studies (n)"]) for r in _table(page, "Month")}
    assert got == dict(months)
    _choose(page, "Room", "CT2")
    page.wait_for_function("() => [...document.querySelectorAll('table')].some(t => t.innerText.includes('Month')"
                           " && t.innerText.includes('CT2') && !t.innerText.includes('DX1'))")
    got = {(r["Room"], r["Month"]): int(r["Studies (n)"]) for r in _table(page, "Month")}
    assert got == {k: n for k, n in months.items() if k[0] == "CT2"}
    _choose(page, "Modality", "MG")
    page.wait_for_selector("text=No exams match modality MG, room CT2")
    page.screenshot(path=SCREENSHOTS / "workload_empty.png", full_page=True)
    watch.check(page)


def test_protocol_explorer(server, site, page):  # noqa: F811 (the imported fixture)
    base, _log = server
    truth = site[1]
    watch = _open(page, base, "protocol_explorer", "table:has-text('Changed on')")
    changes = _table(page, "Changed on")
    assert any(r["Room"] == "CT1" and r["Quantity"] == "CTDIvol (mGy)" for r in changes)  # the injected change
    assert page.locator(".vega-embed:has-text('CTDIvol (mGy) per exam')").count() == 1
    _choose(page, "Room", "CT2")
    n_ct2 = sum(s.station_name == "CT2" and s.protocol == "CT Head Routine" for s in truth.studies)
    page.wait_for_selector(f"text=No change detected in {n_ct2} exams of CT Head Routine")
    page.screenshot(path=SCREENSHOTS / "protocol_explorer_CT2.png", full_page=True)
    watch.check(page)


def test_dose_vs_size(server, site, page):  # noqa: F811 (the imported fixture)
    base, _log = server
    truth = site[1]
    n_ct = sum(s.modality == "CT" for s in truth.studies)
    watch = _open(page, base, "dose_vs_size", f".vega-embed:has-text('n = {n_ct} exams') g.mark-symbol path")
    fits = _table(page, "Exponent b (ratio)")
    assert [r["Room"] for r in fits] == ["CT1", "CT2", "every room"]
    _choose(page, "Room", "CT1")
    n_ct1 = sum(s.modality == "CT" and s.station_name == "CT1" for s in truth.studies)
    page.wait_for_selector(f".vega-embed:has-text('n = {n_ct1} exams')")
    assert [r["Exams (n)"] for r in _table(page, "Exponent b (ratio)")] == [str(n_ct1)]
    page.screenshot(path=SCREENSHOTS / "dose_vs_size_CT1.png", full_page=True)
    watch.check(page)


def test_high_dose_fluoro(server, site, page):  # noqa: F811 (the imported fixture)
    base, _log = server
    study = next(s for s in site[1].studies if s.study_uid == site[1].injected.high_dose_fluoro.study_uid)
    watch = _open(page, base, "high_dose_fluoro", "table:has-text('Times the level')")
    cases = _table(page, "Times the level")
    assert sorted(r["Rule"] for r in cases) == ["rf-kap-500gycm2", "rf-kar-3gy", "rf-kar-5gy"]
    page.wait_for_selector("table:has-text('Ka,r (Gy)')")  # the chosen case's events
    assert len(_table(page, "Ka,r (Gy)")) == len(study.events)
    page.wait_for_selector("text=Skin-dose map")
    assert study.study_uid not in page.inner_text("body")
    _choose(page, "Period", "last 7 days")
    page.wait_for_selector("text=No cases above a trigger level match since")
    page.screenshot(path=SCREENSHOTS / "high_dose_fluoro_empty.png", full_page=True)
    watch.check(page)
