"""The Control Plane's tables, as SQLModel models: the schema at the migration head.

Every change here needs a migration in `alembic/versions/` (see docs/migrations.md), and the
tests check that `alembic upgrade head` and these models agree.

Portability: the schema runs on PostgreSQL (the production database), SQLite (tests, local
development) and MySQL/MariaDB, so strings have lengths, defaults are portable SQL, and the
PostgreSQL-only types (JSONB, native ENUM) are dialect variants of generic ones.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# Deterministic constraint and index names: migrations, downgrades and drift reports can refer
# to them by name on every backend. Set before any table is declared.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

metadata: sa.MetaData = SQLModel.metadata

# JSONB on PostgreSQL (indexable, compact), the generic JSON type elsewhere
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")
# SQLite only autoincrements an INTEGER PRIMARY KEY, not a BIGINT one
BigIdentifier = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _values(enum_class: type[enum.Enum]) -> list[str]:
    # store the lowercase values ('running'), not the member names ('RUNNING')
    return [str(member.value) for member in enum_class]


def _enum(enum_class: type[enum.Enum], name: str) -> sa.Enum:
    """A named enum: a native ENUM type on PostgreSQL and MySQL, a VARCHAR on SQLite."""
    return sa.Enum(enum_class, name=name, values_callable=_values, validate_strings=True)


def _created_at() -> Any:
    return Field(
        default=None,
        nullable=False,
        sa_column_kwargs={"server_default": sa.func.now()},
    )


class AgentStatus(enum.StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"
    DISABLED = "disabled"


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskStatus(enum.StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class PolicyEffect(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"
    __table_args__ = {
        "comment": "Tenants: every agent, workflow, run and policy belongs to one workspace.",
    }

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=63, unique=True, index=True)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_type=sa.Text)
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    created_at: datetime | None = _created_at()


class Agent(SQLModel, table=True):
    __tablename__ = "agents"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "name"),
        sa.CheckConstraint("max_concurrency > 0", name="max_concurrency_positive"),
        {"comment": "Workers that execute tasks; they register and send heartbeats."},
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=100)
    status: AgentStatus = Field(
        default=AgentStatus.OFFLINE,
        sa_type=_enum(AgentStatus, "agent_status"),
        sa_column_kwargs={"server_default": AgentStatus.OFFLINE.value},
    )
    capabilities: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    max_concurrency: int = Field(default=1, sa_column_kwargs={"server_default": sa.text("1")})
    last_heartbeat_at: datetime | None = Field(
        default=None,
        sa_column_kwargs={"comment": "Last time the agent reported in; NULL until it has."},
    )
    created_at: datetime | None = _created_at()


class Workflow(SQLModel, table=True):
    __tablename__ = "workflows"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "name", "version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        {"comment": "Versioned workflow definitions; a new version is a new row."},
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=200)
    version: int = Field(default=1, sa_column_kwargs={"server_default": sa.text("1")})
    definition: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    is_enabled: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    created_at: datetime | None = _created_at()


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        sa.Index("ix_runs_workflow_id_status", "workflow_id", "status"),
        sa.CheckConstraint(
            "finished_at IS NULL OR started_at IS NOT NULL", name="finished_after_started"
        ),
        {"comment": "One execution of a workflow version."},
    )

    id: int | None = Field(default=None, primary_key=True)
    # a workflow with runs cannot be deleted: the history must survive it
    workflow_id: int = Field(foreign_key="workflows.id", ondelete="RESTRICT")
    status: RunStatus = Field(
        default=RunStatus.PENDING,
        sa_type=_enum(RunStatus, "run_status"),
        sa_column_kwargs={"server_default": RunStatus.PENDING.value},
    )
    priority: int = Field(
        default=0,
        sa_column_kwargs={
            "server_default": sa.text("0"),
            "comment": "Higher values are scheduled first.",
        },
    )
    triggered_by: str | None = Field(default=None, max_length=200)
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    created_at: datetime | None = _created_at()


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        sa.Index("ix_tasks_run_id_status", "run_id", "status"),
        sa.CheckConstraint("attempt >= 0", name="attempt_not_negative"),
        {"comment": "A step of a run, assigned to at most one agent at a time."},
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", ondelete="CASCADE")
    # losing an agent must not lose its tasks: they go back to the queue unassigned
    agent_id: int | None = Field(
        default=None, foreign_key="agents.id", ondelete="SET NULL", index=True
    )
    name: str = Field(max_length=200)
    status: TaskStatus = Field(
        default=TaskStatus.QUEUED,
        sa_type=_enum(TaskStatus, "task_status"),
        sa_column_kwargs={"server_default": TaskStatus.QUEUED.value},
    )
    attempt: int = Field(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    input: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    output: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime | None = _created_at()


class Policy(SQLModel, table=True):
    __tablename__ = "policies"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "name"),
        {"comment": "Rules that allow or deny actions in a workspace, highest priority first."},
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id", ondelete="CASCADE")
    name: str = Field(max_length=200)
    effect: PolicyEffect = Field(sa_type=_enum(PolicyEffect, "policy_effect"))
    rules: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    priority: int = Field(default=100, sa_column_kwargs={"server_default": sa.text("100")})
    is_enabled: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    created_at: datetime | None = _created_at()


class AuditLogEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_workspace_id_occurred_at", "workspace_id", "occurred_at"),
        {"comment": "Append-only record of who did what; outlives deleted workspaces."},
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIdentifier)
    workspace_id: int | None = Field(default=None, foreign_key="workspaces.id", ondelete="SET NULL")
    actor: str = Field(max_length=200, index=True)
    action: str = Field(max_length=100)
    target_type: str = Field(max_length=50)
    target_id: str | None = Field(default=None, max_length=100)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    occurred_at: datetime | None = Field(
        default=None,
        nullable=False,
        sa_column_kwargs={"server_default": sa.func.now()},
    )
