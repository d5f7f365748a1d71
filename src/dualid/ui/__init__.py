"""Server-rendered data-sharing pages: the consent page of every event type and the
person's sharing settings, in English and German, accessible (WCAG 2.1 AA) and working
without JavaScript.

Needs the ``ui`` extra (``pip install 'dualid[ui]'``); the rest of dualid never imports
Jinja2 or Babel. Mount the pages like the routers, with the application's own
authentication::

    from dualid.ui import consent_pages

    app.include_router(consent_pages(sdk, authenticate_user=current_user_id),
                       prefix="/privacy")

See ``docs/ui.md`` for the pages, overriding templates, branding and translations.

.. versionadded:: 0.2.0
"""

try:
    import babel as _babel  # noqa: F401
    import fastapi as _fastapi  # noqa: F401
    import jinja2 as _jinja2  # noqa: F401
    import python_multipart as _multipart  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "dualid.ui needs Jinja2, Babel and FastAPI: pip install 'dualid[ui]'", name=exc.name
    ) from exc

from ._i18n import DEFAULT_LOCALE, LOCALES
from ._pages import DEFAULT_EXPIRY_OPTIONS, consent_pages

__all__ = ["DEFAULT_EXPIRY_OPTIONS", "DEFAULT_LOCALE", "LOCALES", "consent_pages"]
