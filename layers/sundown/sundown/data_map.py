"""Where tenant data lives: the stores a purge must empty. Configuration, not code (SPEC's data map)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class TableStore(BaseModel):
    """A DynamoDB table whose partition key holds the account id."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    table: Name
    partition_key: Name = "tenant_id"

    @property
    def label(self) -> str:
        return f"dynamodb:{self.table}"


class BucketStore(BaseModel):
    """An S3 bucket with one prefix per tenant. The prefix must end with ``/``: ``acc-1`` never matches ``acc-10``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    bucket: Name
    prefix: Name = "tenants/{account_id}/"

    @field_validator("prefix")
    @classmethod
    def _one_folder_per_tenant(cls, value: str) -> str:
        if not value.endswith("{account_id}/"):
            raise ValueError(
                f"prefix must end with '{{account_id}}/' so one tenant never matches another, got {value!r}"
            )
        return value

    @property
    def fixed_part(self) -> str:
        """The text every tenant's folder starts with: the prefix before its first ``{account_id}``."""
        return self.prefix.split("{account_id}", 1)[0]

    def prefix_for(self, account_id: str) -> str:
        if not account_id or "/" in account_id or account_id in (".", ".."):
            raise ValueError(f"unsafe account id for a storage prefix: {account_id!r}")
        return self.prefix.replace("{account_id}", account_id)

    @property
    def label(self) -> str:
        return f"s3:{self.bucket}/{self.prefix}"


class DataMap(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    tables: list[TableStore] = Field(default_factory=list)
    buckets: list[BucketStore] = Field(default_factory=list)

    def merged(self, other: DataMap) -> DataMap:
        return DataMap(tables=[*self.tables, *other.tables], buckets=[*self.buckets, *other.buckets])

    @property
    def stores(self) -> list[TableStore | BucketStore]:
        """In purge order: tables first, then buckets."""
        return [*self.tables, *self.buckets]

    def conflicts(self, protected_tables: set[str], protected_folders: dict[str, str]) -> list[str]:
        """Why purging one tenant could delete what is not its own; empty when the map is safe.

        ``protected_tables`` must never be emptied by a purge (Sundown's own tables, the Network IDs);
        ``protected_folders`` maps a bucket to a key prefix a purge must never reach (``network/``).
        Two folder layouts in one bucket collide when one's fixed part starts the other's: with
        ``{account_id}/`` and ``network/``, purging an account named "network" would take every
        identity's files. Account ids hold no ``/``, so layouts whose fixed parts diverge never meet.
        """
        problems = [
            f"table {t.table} is one of Sundown's own (or the Network IDs): a purge must never empty it"
            for t in self.tables
            if t.table in protected_tables
        ]
        unique = list(dict.fromkeys(self.buckets))  # the same layout twice is harmless
        for i, store in enumerate(unique):
            for other in unique[i + 1 :]:
                if store.bucket == other.bucket and _nested(store.fixed_part, other.fixed_part):
                    problems.append(
                        f"{store.label} and {other.label} overlap: a tenant's folder could hold another's"
                    )
            guarded = protected_folders.get(store.bucket)
            if guarded is not None and _nested(store.fixed_part, guarded):
                problems.append(
                    f"{store.label} can reach s3:{store.bucket}/{guarded}, which a purge must never touch"
                )
        return problems


def _nested(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)
