"""dmslab.dashboards.drilldown: exam rows to their events (the truth's events), the viewer link through the
configured template (no template: no link and no error), no identifier in what is shown."""

from __future__ import annotations

import pytest

from dmslab.dashboards import drilldown as dd
from dmslab.dashboards import overview
from dmslab.dashboards import protocols as p
from dmslab.errors import ConfigError

TEMPLATE = "https://pacs.hospital.local/viewer?study={study_uid}"



def _series(store):
    f = p.Views(store, overview.reference_time(store)).filters("CT", "CT1", "everything")
    return p.series_table(store, f, protocol="CT Head Routine", metric="ctdivol_mgy")


def _truth_head_ct1(truth):
    return sorted((s for s in truth.studies if s.station_name == "CT1" and s.protocol == "CT Head Routine"),
                  key=lambda s: s.study_datetime)


def test_exam_row_to_its_ct_events(site, store):
    table = _series(store)
    options = dd.exam_options(table)
    truth = _truth_head_ct1(site[1])
    assert [label.split(" · ")[0] for label, _ in options] == [s.study_datetime[:16].replace("T", " ") for s in truth]
    assert all(s.study_uid not in label for s in truth for label, _ in options)
    events = dd.event_table(store, options[0][1])
    assert events["CTDIvol (mGy)"].tolist() == pytest.approx([e.ctdivol_mgy for e in truth[0].events])
    assert events["Tube voltage (kV)"].tolist() == pytest.approx([e.kvp for e in truth[0].events])
    assert "Study date" not in events and not any("uid" in c.lower() for c in events.columns)


def test_viewer_link_from_the_template(site, store):
    table = _series(store)
    exam = dd.exam_options(table)[0][1]
    uid = _truth_head_ct1(site[1])[0].study_uid
    link = dd.Drilldown(store, TEMPLATE).link(exam)
    assert link.url == TEMPLATE.format(study_uid=uid)
    assert link._repr_html_() == (f'<p><a href="{TEMPLATE.format(study_uid=uid)}" target="_blank" '
                                  'rel="noopener">open images</a></p>')
    assert dd.Drilldown(store, TEMPLATE).link(10**9) is None  # no such exam: no link, no error


def test_no_template_no_link_no_error(store, monkeypatch):
    monkeypatch.delenv("DMSLAB_VIEWER_URL", raising=False)
    drill = dd.Drilldown(store)
    exam = dd.exam_options(_series(store))[0][1]
    assert drill.link(exam) is None
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs: shown.extend(objs))
    drill.show(exam)
    assert len(shown) == 1 and "CTDIvol (mGy)" in shown[0].to_html()  # the events, no link
    monkeypatch.setenv("DMSLAB_VIEWER_URL", TEMPLATE)
    assert dd.Drilldown(store).template == TEMPLATE
    shown.clear()
    dd.Drilldown(store).show(exam)
    assert isinstance(shown[0], dd.ViewerLink) and len(shown) == 2


@pytest.mark.parametrize(("template", "says"), [("https://pacs/v?patient={patient_id}", "unknown placeholder"),
                                               ("https://pacs/v?acc={accession}", "keyed pseudonyms")])
def test_bad_template_is_a_clear_error(store, template, says):
    with pytest.raises(ConfigError, match=says):
        dd.Drilldown(store, template)


def test_picker_and_unknown_exam(store):
    widgets = pytest.importorskip("ipywidgets")
    box = dd.Drilldown(store).picker(_series(store))
    assert isinstance(box, widgets.VBox) and box.children[0].options == tuple(dd.exam_options(_series(store)))
    missing = dd.event_table(store, 10**9)
    assert isinstance(missing, overview.NoExams) and "No exam" in missing.text
