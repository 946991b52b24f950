"""Request bodies are validated by each model's own rules.

Litestar's pydantic plugin calls ``model_validate(value, strict=False)`` by default, which overrides the strict
types the schemas declare (``StrictInt``: ``"12000"`` or ``true`` would become an amount). With
``strict=None`` pydantic applies each model's own configuration: strict fields stay strict, and ISO dates and
UUIDs in JSON are still accepted where declared.
"""

from __future__ import annotations

from litestar.plugins.pydantic import PydanticInitPlugin


def model_rules_plugin() -> PydanticInitPlugin:
    return PydanticInitPlugin(validate_strict=None)  # type: ignore[arg-type]
