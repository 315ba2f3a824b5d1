import pytest

from dmslab.errors import UnknownUnitError
from dmslab.units import convert, unit_key


@pytest.mark.parametrize(
    ("value", "unit", "quantity", "expected", "fixed"),
    [
        (1.034, "dGy.cm2", "dose_area_product", 1.034e-5, "dGy.cm2"),  # Canon Platinum43
        (1.6e-5, "Gym2", "dose_area_product", 1.6e-5, "Gym2"),  # Siemens Artis
        (2.0, "Gy.cm2", "dose_area_product", 2.0e-4, "Gy.cm2"),
        (3.0, "cGy.cm2", "dose_area_product", 3.0e-6, "cGy.cm2"),  # 1 cGy.cm2 = 1 uGy.m2
        (1.034, "mGy", "air_kerma", 1.034e-3, "mGy"),
        (0.0016, "Gy", "air_kerma", 0.0016, None),
        (77.27, "mGycm", "dlp", 77.27, "mGycm"),
        (1.2, "dGy", "dose_mgy", 120.0, "dGy"),  # AGD before CP 1194
        (12.0, "uAs", "exposure_uas", 12.0, "uAs"),
        (2.0, "mAs", "exposure_uas", 2000.0, "mAs"),
        (0.5, "s", "time_ms", 500.0, "s"),
        (15.0, "pulse/s", "pulse_rate", 15.0, "pulse/s"),
        (2, "{X-Ray sources}", "count", 2, None),
        (2, "X-ray sources", "count", 2, "X-ray sources"),
    ],
)
def test_convert(value, unit, quantity, expected, fixed):
    conv = convert(value, unit, quantity)
    assert conv.value == pytest.approx(expected, rel=1e-12)
    assert conv.fixed_from == fixed


def test_missing_unit_assumes_canonical_and_says_so():
    conv = convert(1.6e-5, None, "dose_area_product")
    assert conv.value == 1.6e-5 and conv.fixed_from == "(missing)"


def test_unknown_unit_is_rejected():
    with pytest.raises(UnknownUnitError, match="furlong") as info:
        convert(1.0, "furlong", "dose_area_product")
    assert info.value.reason == "unknown_unit"


def test_unknown_quantity_names_allowed_values():
    with pytest.raises(ValueError, match="dose_area_product"):
        convert(1.0, "Gy", "dose")


def test_unit_key_folds_case_and_punctuation():
    assert unit_key("Gy.m2") == unit_key("Gym2") == unit_key("GY·M^2")
    assert unit_key("uA.s") == unit_key("uAs")
    assert unit_key("mGy.cm") != unit_key("mGy")
