"""The one error of the template reader."""

from __future__ import annotations

__all__ = ["TemplateError"]


class TemplateError(ValueError):
    """The template cannot be served: a missing resource, an unsupported construct..."""
