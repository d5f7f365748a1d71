"""Enables pytester for the plugin tests.

``pytest_plugins = ["pytester"]`` is only allowed in the rootdir's conftest (pytest errors
on it in a nested conftest when the whole suite runs), so pytester is registered here when
this conftest is configured instead; that works both for ``pytest tests/testing`` and for
a plain ``pytest``.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
