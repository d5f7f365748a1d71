"""dualid.fastapi's public names are a contract (docs/versioning.md): adding one is a
decision, removing one a breaking change."""

from __future__ import annotations

import dualid.fastapi

EXPECTED = [
    "API_VERSION",
    "DEFAULT_MAX_BODY_BYTES",
    "STATUS_BY_CODE",
    "ErrorCode",
    "Problem",
    "ProblemError",
    "ProblemRoute",
    "host_router",
    "install_error_handlers",
    "problem_body",
    "problem_response",
    "status_for",
    "user_router",
    "validation_problem",
]


def test_exported_members() -> None:
    assert dualid.fastapi.__all__ == EXPECTED
    for name in EXPECTED:
        assert getattr(dualid.fastapi, name) is not None
