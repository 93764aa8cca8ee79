"""LibreOffice writer task families."""

from __future__ import annotations

FAMILIES: list = []
