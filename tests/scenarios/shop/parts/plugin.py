"""Importing this module registers the shop's tables on parts.registry.metadata."""

from __future__ import annotations

from tests.scenarios.shop import models
from tests.scenarios.shop.parts import registry

for table in models.metadata.sorted_tables:
    table.to_metadata(registry.metadata)
