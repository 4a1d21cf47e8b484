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
