"""What a committee reads: display names with units, formatted numbers, status words and colours, viewer links
(and none without a template), German from its catalogue, a PDF beside the HTML (issue 13 items 5 and 7)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from dmslab.config import load_settings
from dmslab.errors import ConfigError
from dmslab.reporting import Pipeline, Report, Runner, languages
from dmslab.reporting._format import exam_table
from dmslab.reporting._i18n import LOCALE_DIR

from .conftest import median_ctdivol
from .test_runner import JANUARY, NAMES, audit_rows, number, table_rows

UID = "1.2.826.0.1.3680043.2.1125.1.99999"
EXAMS = pd.DataFrame({"study_uid": [UID, "2.25.7"], "room": ["CT1", "CT2"],
                      "standard_name": ["CT Head wo IV Contrast", "CT Chest"], "value": [1295.4, 300.0],
                      "drl": [790.0, 290.0], "ratio": [1295.4 / 790.0, 300.0 / 290.0]})


def visible(html: str) -> str:
    """The text a reader sees (no tags, styles or scripts)."""
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_exam_rows_link_to_the_viewer_with_quoted_values_and_never_show_the_uid():
    exams = EXAMS.assign(study_uid=[UID, None])
    table = exam_table(exams, metric="dlp_mgycm", viewer_url="https://pacs.local/v?study={study_uid}&x=1")
    links = re.findall(r'<a href="([^"]+)">open images</a>', table.html)
    assert links == [f"https://pacs.local/v?study={UID}&amp;x=1"]  # the 2nd has no UID
    head, first, second = table_rows(table.html)
    assert head == ["Room", "Standard name", "DLP (mGy·cm)", "DRL DLP (mGy·cm)", "Ratio", "Images"]
    assert first == ["CT1", "CT Head wo IV Contrast", "1,295", "790", "1.64", "open images"]
    assert second[-1] == "–"  # no value for the placeholder: no link, no error
    assert UID not in visible(table.html) and UID not in table.text


def test_no_viewer_template_means_no_link_column_and_no_error():
    table = exam_table(EXAMS, metric="dlp_mgycm")
    assert "<a " not in table.html and table_rows(table.html)[0][-1] == "Ratio"
    assert UID not in visible(table.html)


def test_the_viewer_template_is_a_setting_checked_when_read(tmp_path, monkeypatch):
    monkeypatch.setenv("DMSLAB_VIEWER_URL", "https://pacs.local/viewer?study={study_uid}")
    assert load_settings(home=str(tmp_path)).viewer_url == "https://pacs.local/viewer?study={study_uid}"
    for bad, says in [("https://pacs/{patient_id}", "unknown placeholder(s) ['patient_id']"),
                      ("https://pacs/viewer", "has no placeholder"), ("javascript:{study_uid}", "http://"),
                      ("https://pacs/{study_uid", "not a valid template"),
                      ("https://pacs/v?acc={accession}", "accession numbers only as keyed pseudonyms")]:
        monkeypatch.setenv("DMSLAB_VIEWER_URL", bad)
        with pytest.raises(ConfigError, match=re.escape(says)):
            load_settings(home=str(tmp_path))
    monkeypatch.delenv("DMSLAB_VIEWER_URL")
    assert load_settings(home=str(tmp_path)).viewer_url == ""


def test_audit_status_is_words_and_colour_and_numbers_have_units():
    audit = pd.DataFrame({"room": ["CT1", "CT2", "CT2"], "standard_name": ["CT Head", "CT Head", "CT Chest"],
                          "metric": ["dlp_mgycm"] * 3, "n": [25, 4, 12], "median": [812.25, 500.0, 0.705],
                          "mean": [820.0, 510.0, 0.71], "drl": [790.0, 790.0, None],
                          "ratio": [812.25 / 790, 500 / 790, None], "n_above": [14, 0, 0],
                          "status": ["above DRL", "too few", "no DRL"], "source": ["UK NDRL 2024"] * 3})
    table = Report().audit(audit)
    assert "<h3>DLP (mGy·cm)</h3>" in table.html
    rows = table_rows(table.html)
    assert rows[0] == ["Room", "Standard name", "n", "Median DLP (mGy·cm)", "Mean DLP (mGy·cm)",
                       "DRL DLP (mGy·cm)", "Median / DRL", "Values above DRL", "Status"]
    assert rows[1] == ["CT1", "CT Head", "25", "812", "820", "790", "1.03", "14", "above DRL"]
    assert rows[3][3] == "0.705" and rows[3][5] == "–"
    assert '<td class="status-above">above DRL</td>' in table.html
    assert '<td class="status-few">too few</td>' in table.html and "DRL source: UK NDRL 2024" in table.text
    german = Report(language="de").audit(audit)
    assert table_rows(german.html)[1] == ["CT1", "CT Head", "25", "812", "820", "790", "1,03", "14", "über DRW"]


def test_a_language_without_catalogue_is_refused_naming_the_ones_there_are(tmp_path):
    assert languages() == ("de", "en")
    with pytest.raises(ConfigError, match=r"language 'fr' has no catalogue; available: \['de', 'en'\]"):
        Report(language="fr")
    path = tmp_path / "p.yml"
    path.write_text("notebook: x.ipynb\nschedule: monthly\nlanguage: fr\n")
    with pytest.raises(ConfigError, match="pipeline p: language 'fr' has no catalogue"):
        Pipeline.from_yaml(path)


def test_every_compiled_catalogue_is_its_source_and_translates_every_text():
    from babel.messages.pofile import read_po

    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/dmslab.po")):
        with po.open("rb") as f:
            catalog = read_po(f)
        source = {m.id: m.string for m in catalog if m.id}
        assert source and all(source.values()), f"{po}: untranslated {[k for k, v in source.items() if not v]}"
        import gettext

        with po.with_suffix(".mo").open("rb") as f:
            compiled = gettext.GNUTranslations(f)
        assert {k: compiled.gettext(k) for k in source} == source, f"{po}: compile it again (pybabel compile)"


def pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
    pypdf = pytest.importorskip("pypdf")
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(str(pdf)).pages)


@pytest.mark.slow
def test_a_german_report_with_its_pdf(filled_sqlite, tmp_path):
    """The monthly DRL audit in German: translated title block and headings, German numbers, a real median of
    the ground truth in the HTML and in the PDF beside it; self-contained (nothing loaded from elsewhere)."""
    from dataclasses import replace

    from dmslab.reporting.runner import NOTEBOOKS_DIR

    settings, truth = filled_sqlite
    settings = replace(settings, site_name="Klinikum Nord", viewer_url="https://pacs.local/v?study={study_uid}")
    pipe = tmp_path / "drl_de.yml"
    pipe.write_text(f"notebook: {NOTEBOOKS_DIR / 'drl_audit.ipynb'}\nschedule: monthly\nlanguage: de\n"
                    "parameters: {modality: CT, drl_set: UK}\n")
    run = Runner(settings, tmp_path / "reports").run(Pipeline.from_yaml(pipe), JANUARY).run
    assert (run.status, run.error) == ("ok", None)
    html, pdf = Path(run.report_path).read_text(), Path(run.pdf_path)
    text = visible(html)
    for said in ["Klinikum Nord", "DRW-Audit", "Zeitraum: 2026-01-01 bis 2026-02-01 (ausschließlich)",
                 "DRW-Satz: UK", "Patienten: Erwachsene", "Raum-Mediane im Vergleich mit dem DRW",
                 "Median CTDIvol (mGy)", "Einzelne Untersuchungen über dem DRW je Untersuchung", "Bilder öffnen"]:
        assert said in text, said
    assert "Room medians against the DRL" not in text and "Period" not in text
    assert not re.search(r"\b[A-Z]\w+\((\w+=|\))", text)  # no repr text such as NamingSummary(studies=98, …)
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"https?:|url\(\s*['\"]?https?:", html)
    german = html.replace(".", "").replace(",", ".")  # German numbers, read back as English ones
    rows = audit_rows(german.replace("<th>Raum</th>", "<th>Room</th>"))
    head = next(r for r in rows if r["room"] == "CT1" and r["standard_name"] == NAMES["CT Head Routine"]
                and r["metric"] == "ctdivol_mgy")
    expected = median_ctdivol(truth, "CT1", "CT Head Routine", (JANUARY.start, JANUARY.end))
    assert number(head["median"]) == pytest.approx(expected, rel=5e-3)
    shown = head["median"].replace(".", ",")  # as the German report writes it
    assert "," in shown and shown in text
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.parent == Path(run.report_path).parent
    words = pdf_text(pdf)
    assert "2026-01-01 bis 2026-02-01" in words and shown in words and "Klinikum Nord" in words
