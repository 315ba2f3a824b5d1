"""Voting between reads, cell cropping and cell parsing, on hand-made inputs (no tesseract needed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dmslab.ingest.ocr._cells import CELLS, cell_box, parse_cell
from dmslab.ingest.ocr._checks import consistent as _consistent
from dmslab.ingest.ocr._engine import Word, crop_cell
from dmslab.ingest.ocr._layouts import Reading, normalise, read_layout, sub_word
from dmslab.ingest.ocr._vote import Value, vote


def _v(x: float, conf: float = 95.0) -> Value:
    return Value(x, f"{x}", conf)


@pytest.mark.parametrize(("reads", "value", "reason"), [
    ([_v(6.03), _v(6.03), _v(6.03), _v(6.03)], 6.03, None),
    ([_v(6.03), None, _v(6.03, 40), None], 6.03, None),  # two agree, the better one is confident
    ([_v(6.03), _v(6.63), _v(6.63), _v(6.63)], None, "reads disagree"),  # a majority is not enough
    ([_v(6.03, 60), _v(6.03, 70), _v(6.03, 79), _v(6.03, 50)], None, "conf 79 < 80"),  # nor are four weak reads
    ([_v(6.03), None, None, None], None, "one read only"),
    ([_v(6.03), Value(None, "6.O3", 90), None, None], None, "one read only"),  # not understood: no vote
    ([Value(None, "x", 90), Value(None, "y", 90)], None, "not understood"),
    ([None, None, None, None], None, "not read"),
])
def test_vote(reads, value, reason):
    got, flag = vote("ctdivol_mgy", reads, 80.0)
    assert got == value
    assert (flag is None) if reason is None else (reason in flag and flag.startswith("ocr_review: ctdivol_mgy"))


def test_parse_cell_is_strict():
    ge_r1, ctdi_tosh = CELLS["ge"][1], CELLS["toshiba"][2]

    def word(text: str, conf: float = 96.0, chars: float = 96.0) -> tuple[str, float, tuple[float, ...]]:
        return text, conf, (chars,) * len(text)

    # the side letter is rated by the characters after it, not by tesseract's (near 0) word confidence
    assert parse_cell(ge_r1, [("-I267.632", 0.0, (80.0, 30.0, 97.0, 95.0, 99.0, 99.0, 99.0, 99.0, 99.0))])["r1"] \
        == Reading("I267.632", 95.0)
    assert parse_cell(ge_r1, [word("I267.63")]) == {}  # a lost decimal never parses
    assert parse_cell(ge_r1, [word("I1267.632")], chars=8) == {}  # one character more than measured
    assert parse_cell(ctdi_tosh, [word("12.5", 91.0)]) == {"ctdi": Reading("12.5", 91.0)}  # digits: word conf
    assert parse_cell(ctdi_tosh, [word("125")]) == {}
    assert parse_cell(ctdi_tosh, [word("12.5"), word("7")]) == {}
    siemens = {c.name: c for c in CELLS["siemens"]}
    got = parse_cell(siemens["ctdi_ph"], [word("6.17", 93.0), word("L", 55.0)])
    assert got == {"ph": Reading("L", 55.0)}


def test_sub_word_cuts_by_character_widths():
    word = Word("S8.628-I267.632", 0.0, 100, 40, 150, 20)  # monospace: 10 px a character
    r0 = sub_word(word, 0, 6, monospace=True)
    r1 = sub_word(word, 7, 15, monospace=True)
    assert (r0.text, r0.left, r0.width) == ("S8.628", 100, 60)
    assert (r1.text, r1.left, r1.width) == ("I267.632", 170, 80)
    prop = sub_word(Word("12.5", 0.0, 0, 0, 35, 10), 3, 4)  # digits 1, point 0.5: 3.5 units of 10 px
    assert (prop.left, prop.width) == (25, 10)


def test_layout_boxes_and_cell_boxes():
    def w(text: str, left: int, width: int) -> Word:
        return Word(text, 90.0, left, 100, width, 20)

    header = (w("Series", 0, 60), w("Type", 80, 40), w("Scan", 140, 40), w("Range", 190, 50), w("Phantom", 600, 70))
    row = (w("2", 0, 10), w("Helical", 80, 70), w("S8.628-I267.632", 140, 150), w("8.19", 320, 40),
           w("237", 400, 30), w(".27", 430, 30), w("Body", 500, 40), w("32", 550, 20))
    reading = read_layout([header, row], "ge")
    (r,) = reading.rows
    assert r.complete and r.fields["dlp"].text == "237.27"  # "237 .27" joined again
    assert cell_box(r.fields, CELLS["ge"][0]) == (140, 100, 60, 20)  # r0: the first 6 of 15 characters
    assert cell_box(r.fields, CELLS["ge"][1]) == (210, 100, 80, 20)  # r1: after the hyphen
    assert cell_box(r.fields, CELLS["ge"][3]) == (400, 100, 60, 20)  # dlp spans both words


def test_normalise_joins_split_decimals():
    line = (Word("564.", 90, 0, 0, 40, 10), Word("36", 80, 45, 0, 20, 10), Word("488", 95, 80, 0, 30, 10),
            Word(".52", 70, 112, 0, 30, 10))
    assert [(x.text, x.conf) for x in normalise(line)] == [("564.36", 80), ("488.52", 70)]
    spaced = (Word("188", 90, 0, 0, 30, 10), Word(".", 60, 33, 0, 4, 10), Word("82", 85, 40, 0, 20, 10))
    assert [(x.text, x.conf, x.width) for x in normalise(spaced)] == [("188.82", 60, 60)]


def test_crop_cell_keeps_neighbours_out():
    page = np.full((60, 200), 255, np.uint8)
    page[20:40, 50:100] = 0  # the cell
    page[20:40, 100:110] = 0  # a neighbour right next to it
    crop = np.asarray(crop_cell(Image.fromarray(page), (50, 20, 50, 20)))  # scaled by 0.8
    dark = crop < 128
    assert 39 <= dark.any(axis=0).sum() <= 42  # the cell's 50 columns and a 1 px sliver of the neighbour, x 0.8
    assert 15 <= dark.any(axis=1).sum() <= 17  # its 20 rows, x 0.8
    assert crop[0].min() > 200 and crop[:, 0].min() > 200  # white margins


@pytest.mark.parametrize(("ctdi", "dlp", "length_mm", "ok"), [
    (10.0, 310.0, 300.0, True),  # 1 cm over-ranging
    (10.0, 300.0, 300.0, True),  # axial, no over-ranging
    (10.0, 380.0, 300.0, False),  # 8 cm more: a misread digit, not over-ranging
    (10.0, 240.0, 300.0, False),  # shorter than the range
    (None, 240.0, 300.0, True),  # nothing to check
])
def test_length_check(ctdi, dlp, length_mm, ok):
    assert _consistent({"ctdivol_mgy": ctdi, "dlp_mgycm": dlp, "scan_length_mm": length_mm}) is ok


def _fixed_width_page() -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """'S8.628-I267.632' drawn as blocks on a 10 px pitch: 8 px glyphs, a 4 px hyphen in the middle band."""
    page = np.full((40, 220), 255, np.uint8)
    text = "S8.628-I267.632"
    for i, ch in enumerate(text):
        x = 20 + 10 * i
        if ch == "-":
            page[19:22, x + 3:x + 7] = 0
        elif ch == ".":
            page[26:30, x + 3:x + 6] = 0
        else:
            page[10:30, x + 1:x + 9] = 0
    return Image.fromarray(page), [(21, 10, 148, 20)]


def test_find_hyphen_and_char_count():
    from dmslab.ingest.ocr._mono import char_count, find_hyphen

    img, (box,) = _fixed_width_page()
    hyphen = find_hyphen(img, box, 10.0)
    assert hyphen == (83, 87)  # the 7th glyph: 20 + 60 + 3
    assert char_count(hyphen[0] - box[0], 10.0, 2.0) == 6  # "S8.628"
    assert char_count(box[0] + box[2] - hyphen[1], 10.0, 2.0) == 8  # "I267.632"
    bar4 = np.full((40, 60), 255, np.uint8)
    bar4[10:30, 20:22] = 0
    bar4[19:22, 22:26] = 0  # the bar of a 4 touches its stem: not a hyphen
    assert find_hyphen(Image.fromarray(bar4), (10, 10, 40, 20), 10.0) is None


def test_check_ranges_drops_a_misread_length():
    from dmslab.ingest.ocr._layouts import RowReading, ScreenReading
    from dmslab.ingest.ocr._mono import check_ranges

    img, (box,) = _fixed_width_page()

    def rd(text: str, left: int, n: int) -> Reading:
        return Reading(text, 90.0, (left, 10, 10 * n - 2, 20))

    row = RowReading(0, "", {"ctdi": rd("8.19", 0, 4), "dlp": rd("237.27", 0, 6), "r0": rd("S8.628", 21, 6),
                             "r1": rd("I1267.632", 88, 8)}, True)  # one character too many
    checked = check_ranges(img, ScreenReading("ge", (row,), rd("237.27", 0, 6))).rows[0].fields
    assert checked["r0"].text == "S8.628" and checked["r0"].chars == 6
    assert "r1" not in checked and checked["r1_raw"].chars == 8 and checked["r1_raw"].box[0] == 87


def test_unchecked_numbers_are_withdrawn():
    from dmslab.ingest.ocr._checks import cross_checked as _cross_checked

    full = {"ctdivol_mgy": 6.68, "dlp_mgycm": 409.37, "scan_length_mm": 667.681, "_length_on_both_images": False,
            "_length_ends": "-130.391 -798.072"}
    kept, flags = _cross_checked(dict(full), [], summed=False, confusable="68")
    assert kept == {"ctdivol_mgy": 6.68, "dlp_mgycm": 409.37, "scan_length_mm": 667.681} and flags == []
    # no DLP: the length check cannot run
    part = {**full, "dlp_mgycm": None}
    got, flags = _cross_checked(dict(part), [], summed=False, confusable="68")
    assert got["ctdivol_mgy"] is None  # a 6 in a GE number may be a dotted zero
    assert got["scan_length_mm"] is None  # read on one image only
    assert all(f.startswith("ocr_review: ") for f in flags) and len(flags) == 2
    got, _ = _cross_checked({**part, "_length_on_both_images": True, "_length_ends": "-130.391 -791.072"}, [],
                            summed=False, confusable="")
    assert got["ctdivol_mgy"] == 6.68 and got["scan_length_mm"] == 667.681  # no confusable digits in this font
    got, _ = _cross_checked({**full, "scan_length_mm": None}, [], summed=True, confusable="")
    assert got["dlp_mgycm"] == 409.37  # the rows add up to the total
    got, _ = _cross_checked({**full, "scan_length_mm": None}, [], summed=False, confusable="")
    assert got["dlp_mgycm"] is None


def _line(text: str, top: int = 0) -> tuple[Word, ...]:
    words, left = [], 0
    for w in text.split():
        words.append(Word(w, 90.0, left, top, 8 * len(w), 10))
        left += 8 * len(w) + 8
    return tuple(words)


def test_series_letter_slip_is_a_row():
    """'i Scout' (the series 1 read as a letter) is still the scout row; a letter before an unknown word is not."""
    header = _line("Series Type Scan Range (mm) CTDIvol (mGy) DLP (mGy-cm) Phantom")
    got = read_layout([header, _line("i Scout : - - -", 20), _line("2 Helical S1.000-I99.000 7.79 576.95 Body 32", 40),
                       _line("i Banana - - - -", 60)], "ge")
    assert [(r.fields["series"].text, r.fields["type"].text) for r in got.rows] == [("1", "Scout"), ("2", "Helical")]


def test_rows_paired_by_their_numbers_when_a_series_is_misread():
    """One read lost the scout row and misread the helical row's series (4 for 2): the helical rows still pair
    (same CTDIvol and DLP), so the row is not counted twice against the total."""
    from dmslab.ingest.ocr._layouts import ScreenReading
    from dmslab.ingest.ocr.screen import _pair_rows

    header = _line("Series Type Scan Range (mm) CTDIvol (mGy) DLP (mGy-cm) Phantom")
    a = read_layout([header, _line("4 Helical S3.374-I457.185 8.32 409.08 Body 32", 20)], "ge")
    b = read_layout([header, _line("1 Scout - - - -", 20), _line("2 Helical S3.374-I457.185 8.32 409.08 Body 32", 40)],
                    "ge")
    pairs = _pair_rows((a, b, ScreenReading("ge", (), None), ScreenReading("ge", (), None)))
    assert [(x.fields["series"].text if x else None, y.fields["series"].text if y else None) for x, y in pairs] == [
        (None, "1"), ("4", "2")]
