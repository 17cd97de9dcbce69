"""The shop's orders table in a MetaData of its own; its foreign key names users.id, which
only a merge with parts.users can resolve."""

from __future__ import annotations

import sqlalchemy as sa

from tests.scenarios.shop import models

metadata = sa.MetaData(naming_convention=models.metadata.naming_convention)
models.orders.to_metadata(metadata)
