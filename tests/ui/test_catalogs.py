"""The message catalogs: complete, current and compiled, and the core never loads them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import dualid.ui
from dualid.ui._i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
POT = LOCALE_DIR / "dualid.pot"
HOW = (
    "regenerate the catalogs (docs/ui.md, 'Translations'): pybabel extract, update, "
    "translate, compile"
)


def _extracted() -> set[object]:
    methods = [
        ("src/dualid/ui/**.py", "python"),
        ("src/dualid/ui/templates/**.html", "jinja2"),
    ]
    options = {
        "src/dualid/ui/templates/**.html": {
            "extensions": "jinja2.ext.i18n",
            "trim_blocks": "true",
            "lstrip_blocks": "true",
        }
    }
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[object] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), methods, options, keywords=keywords
    ):
        found.add(message)
    return found


def _ids(path: Path) -> set[object]:
    with path.open("rb") as f:
        return {m.id for m in read_po(f) if m.id}


def _key(value: object) -> object:
    # Plural messages read back from a .mo file are lists.
    return tuple(value) if isinstance(value, list | tuple) else value


def test_the_template_holds_every_message_of_the_sources() -> None:
    assert _extracted() == _ids(POT), HOW


def test_every_shipped_locale_translates_every_message() -> None:
    for locale in dualid.ui.LOCALES:
        if locale == "en":
            continue  # the source language
        po = LOCALE_DIR / locale / "LC_MESSAGES" / "dualid.po"
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        messages = {m.id: m for m in catalog if m.id}
        assert set(messages) == _ids(POT), HOW
        for message in messages.values():
            assert not message.fuzzy, message.id
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"untranslated in {locale}: {message.id!r}"
        # Placeholders and plural forms agree with the English source.
        problems = list(catalog.check())
        assert problems == [], problems


def test_the_compiled_catalogs_are_current() -> None:
    for locale in dualid.ui.LOCALES:
        if locale == "en":
            continue
        folder = LOCALE_DIR / locale / "LC_MESSAGES"
        with (folder / "dualid.po").open("rb") as f:
            po = {_key(m.id): _key(m.string) for m in read_po(f, locale=locale) if m.id}
        with (folder / "dualid.mo").open("rb") as f:
            mo = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
        assert mo == po, "run: pybabel compile -d src/dualid/ui/locale -D dualid"


def test_the_core_and_the_routers_never_load_jinja2_or_babel() -> None:
    code = (
        "import sys, dualid, dualid.fastapi, dualid.testing; "
        "loaded = {'jinja2', 'babel'} & {m.split('.')[0] for m in sys.modules}; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
