"""Network ID deletion: the person's global identity goes only when they ask, and never from under an account."""

from __future__ import annotations

from typing import Literal

from sundown import audit, notifications, storage
from sundown.events import NetworkIdDeletionRequested
from sundown.models import AccountModel
from sundown.observability import count, logger
from sundown.runtime import runtime

NetworkIdOutcome = Literal["deleted", "refused", "already_deleted"]


def delete_network_id(event: NetworkIdDeletionRequested) -> NetworkIdOutcome:
    settings = runtime().settings
    if not settings.network_ids_table or not settings.documents_bucket:
        raise RuntimeError("NETWORK_IDS_TABLE and DOCUMENTS_BUCKET must be set to delete Network IDs")
    network_id = event.detail.network_id
    now = event.time
    subject = f"network#{network_id}"
    key = {"network_id": {"S": network_id}}
    holder = storage.get_item(settings.network_ids_table, key)

    # The owner index is sparse: tombstones drop their owner, so only live accounts show up.
    owned = sorted(a.account_id for a in AccountModel.owner_index.query(network_id) if a.status != "deleted")
    if owned:
        count("NetworkIdDeletionRefused")
        audit.record(subject, "network_id_deletion_refused", now, accounts=owned, event_id=event.id)
        logger.warning(
            "Network ID deletion refused: it still owns accounts",
            extra={"network_id": network_id, "accounts": owned, "event_id": event.id},
        )
        address = (holder or {}).get("email", {}).get("S")
        if address:
            notifications.send(
                notifications.network_id_refusal(address, network_id, owned), settings.sender_email
            )
        return "refused"

    prefix = f"network/{network_id}/"
    removed = _empty_prefix(settings.documents_bucket, prefix)
    if holder is None and not any(removed.values()):
        return "already_deleted"
    # Files first, identity last: a retry after a crash still finds the identity and finishes.
    storage.delete_item(settings.network_ids_table, key)
    count("NetworkIdDeleted")
    audit.record(subject, "network_id_deleted", now, event_id=event.id, **removed)
    return "deleted"


def _empty_prefix(bucket: str, prefix: str) -> dict[str, int]:
    """Every version, delete marker and unfinished upload under ``prefix`` (an identity's few files)."""
    removed = {"object_versions_deleted": 0, "delete_markers_deleted": 0, "uploads_aborted": 0}
    while True:
        page = storage.list_versions_page(bucket, prefix, None)
        if not page.entries:
            break
        failed = storage.delete_versions(bucket, page.entries)
        if failed:
            raise RuntimeError(f"could not delete {len(failed)} versions under {prefix!r}; will retry")
        for entry in page.entries:
            removed["delete_markers_deleted" if entry["marker"] else "object_versions_deleted"] += 1
    while True:
        uploads = storage.list_uploads_page(bucket, prefix, None)
        if not uploads.entries:
            break
        if storage.abort_uploads(bucket, uploads.entries):
            raise RuntimeError(f"could not abort uploads under {prefix!r}; will retry")
        removed["uploads_aborted"] += len(uploads.entries)
    return removed
