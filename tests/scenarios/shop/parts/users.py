"""The shop's users table in a MetaData of its own (models split across packages)."""

from __future__ import annotations

import sqlalchemy as sa

from tests.scenarios.shop import models

metadata = sa.MetaData(naming_convention=models.metadata.naming_convention)
models.users.to_metadata(metadata)
