"""An empty MetaData that plugins fill when imported (as SQLModel and declarative bases do)."""

from __future__ import annotations

import sqlalchemy as sa

from tests.scenarios.shop import models

metadata = sa.MetaData(naming_convention=models.metadata.naming_convention)
