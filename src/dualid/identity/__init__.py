"""userId <-> agentId mapping."""

from ._agents import Identity
from ._profiles import Profiles

__all__ = ["Identity", "Profiles"]
