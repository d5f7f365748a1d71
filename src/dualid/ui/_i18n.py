"""Languages: the message catalogs, choosing a locale for a request, dates in its format.

Every string the pages show comes from the ``dualid`` gettext catalog
(``dualid/ui/locale/<lang>/LC_MESSAGES/dualid.mo``; English is the source language).
Strings outside templates are marked with :func:`N_` so that ``pybabel extract`` finds
them; they are translated where they are shown.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Final

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_date, format_datetime
from babel.support import NullTranslations, Translations

__all__ = ["DEFAULT_LOCALE", "DOMAIN", "LOCALES", "N_", "Texts", "choose_locale"]

DOMAIN: Final = "dualid"
LOCALES: Final = ("en", "de")
"""The languages shipped: English (the source language) and German."""
DEFAULT_LOCALE: Final = "en"
LOCALE_DIR: Final = Path(__file__).parent / "locale"
_MAX_PREFERENCES: Final = 20


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def _preferences(accept_language: str) -> list[str]:
    """The language tags of an ``Accept-Language`` header, most wanted first (RFC 9110
    q-values; ``q=0`` means "not this one"; malformed parts are ignored)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:_MAX_PREFERENCES]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def choose_locale(
    requested: str | None, accept_language: str | None, available: tuple[str, ...], default: str
) -> str:
    """``requested`` (the ``lang`` parameter) when it is one of ``available``, else the
    best match for ``Accept-Language``, else ``default``."""
    if requested and requested in available:
        return requested
    if accept_language:
        found = negotiate_locale(_preferences(accept_language), list(available), sep="-")
        if found is None:
            # "de-AT" matches "de": compare the language part too.
            languages = [tag.split("-")[0].split("_")[0] for tag in _preferences(accept_language)]
            found = negotiate_locale(languages, list(available), sep="-")
        if found is not None:
            return found
    return default


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The catalog of ``locale`` (the English source strings for ``en``)."""
    if locale == "en":
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [locale], DOMAIN)


@dataclass(frozen=True)
class Texts:
    """One locale: its messages and its date formats, in one time zone."""

    locale: str
    timezone: tzinfo

    @property
    def catalog(self) -> NullTranslations:
        return translations(self.locale)

    def gettext(self, message: str) -> str:
        return self.catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalog.ngettext(singular, plural, n)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(value, "medium", tzinfo=self.timezone, locale=self.locale)

    def date(self, value: date | None) -> str:
        if value is None:
            return ""
        return format_date(value, "long", locale=self.locale)

    def language_name(self, locale: str) -> str:
        """A language's own name ("Deutsch"), as language switchers show it."""
        return (Locale.parse(locale).get_display_name(locale) or locale).capitalize()
