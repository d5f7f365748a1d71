"""Storage: SQLModel tables, engines and the Alembic migrations shipped in the package."""

from ._engine import DEFAULT_URL, Store, normalise_url
from ._migrate import SCRIPT_LOCATION, VERSION_TABLE, current, downgrade, head, history, upgrade

__all__ = [
    "DEFAULT_URL",
    "SCRIPT_LOCATION",
    "VERSION_TABLE",
    "Store",
    "current",
    "downgrade",
    "head",
    "history",
    "normalise_url",
    "upgrade",
]
