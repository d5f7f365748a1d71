"""The query parameters of a paged route: ``cursor`` (from the previous page) and ``limit``.

No ``from __future__ import annotations`` here: FastAPI reads the dependency's signature,
whose bounds are local to :func:`page_query`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Query

__all__ = ["PageQuery", "page_query"]


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What a paged route was asked for: ``cursor`` is None for the first page (an empty
    ``cursor`` parameter too), ``limit`` the most items to return."""

    cursor: str | None
    limit: int


def page_query(*, cursor_length: int, limit_max: int, limit: int) -> Callable[..., PageQuery]:
    """The dependency of a paged route: ``page: Annotated[PageQuery, Depends(page_query(
    cursor_length=40, limit_max=500, limit=50))]``. It declares the query parameters
    ``cursor`` (at most ``cursor_length`` characters) and ``limit`` (1 to ``limit_max``,
    ``limit`` by default), as the OpenAPI document shows them."""

    def dependency(
        cursor: Annotated[
            str | None, Query(max_length=cursor_length, description="From the previous page.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=limit_max)] = limit,
    ) -> PageQuery:
        return PageQuery(cursor or None, limit)

    return dependency
