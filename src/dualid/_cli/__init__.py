"""The commands of ``dualid`` (needs the ``cli`` extra). Entry point: :func:`dualid.cli.main`."""

from ._app import app

__all__ = ["app"]
