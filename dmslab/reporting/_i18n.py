"""Report languages: gettext catalogues (``locale/<lang>/LC_MESSAGES/dmslab.po`` and the compiled ``.mo``) and
numbers formatted the way the language writes them (babel).

English is the source language (the ``msgid`` texts). Adding a language is adding a catalogue: copy
``locale/de/LC_MESSAGES/dmslab.po`` to ``locale/<lang>/LC_MESSAGES/``, translate the ``msgstr`` texts and compile
it (``pybabel compile -d dmslab/reporting/locale -D dmslab``); ``tests/reporting/test_i18n.py`` checks that every
compiled catalogue matches its source and translates every text.
"""

from __future__ import annotations

import gettext
import math
from functools import lru_cache
from pathlib import Path

from dmslab.errors import ConfigError

__all__ = ["DOMAIN", "LOCALE_DIR", "format_number", "languages", "translation"]

DOMAIN = "dmslab"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE_LANGUAGE = "en"


def languages() -> tuple[str, ...]:
    """The report languages: English and every language with a compiled catalogue.

    >>> languages()
    ('de', 'en')
    """
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")}
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


@lru_cache(maxsize=16)
def translation(language: str) -> gettext.NullTranslations:
    """The catalogue of ``language`` (English: the texts as written).

    >>> translation("de").gettext("Period")
    'Zeitraum'

    Raises
    ------
    ConfigError
        For a language without a catalogue; the message lists the languages there are.
    """
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    if language not in languages():
        raise ConfigError(f"report language {language!r} has no catalogue; available: {list(languages())} "
                          f"(add {LOCALE_DIR}/{language}/LC_MESSAGES/{DOMAIN}.po and compile it)")
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[language])


def format_number(value: object, language: str = SOURCE_LANGUAGE, *, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits (all digits of its integer part; whole numbers such as counts
    without decimals), grouped and with the decimal sign of ``language``; missing values as an en dash.

    >>> format_number(0.705), format_number(12.3456), format_number(1234.56), format_number(4.0)
    ('0.705', '12.3', '1,235', '4')
    >>> format_number(None), format_number(float("nan"))
    ('–', '–')
    >>> format_number(1234.56, "de"), format_number(0.705, "de")
    ('1.235', '0,705')
    """
    from babel.numbers import format_decimal

    if value is None or isinstance(value, bool):
        return "–"
    try:
        number = float(value)  # type: ignore[arg-type]  # anything float() takes; the rest is shown as text
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "–"
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    decimals = 0
    if not number.is_integer():
        decimals = max(0, min(6, digits - 1 - math.floor(math.log10(abs(number)))))
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return str(format_decimal(number, format=pattern, locale=_locale(language)))


def _locale(language: str) -> str:
    return "en_GB" if language == SOURCE_LANGUAGE else language
