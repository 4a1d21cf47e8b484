"""Physical, verifiable purge of one tenant from every store in the data map.

The sweep marks the account ``purging`` (the point of no return) and enqueues a request; the purge
worker empties the stores page by page. Every page is journalled before it is deleted and committed
after, on the account item with optimistic locking, so that:
- a crash anywhere loses nothing: the next delivery finds the journal, deletes that page again
  (deleting is idempotent) and commits it once, so the counts are exact;
- a worker close to its time limit re-enqueues itself; every invocation completes at least one page;
- two workers on one tenant never both count a page: only one commit of a journal can succeed.
When every store lists empty, each is checked again; only then does the account become a tombstone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sundown import audit, notifications, storage
from sundown.clock import iso, parse_time
from sundown.data_map import BucketStore, TableStore
from sundown.errors import InvalidEvent, UnknownAccount
from sundown.events import PurgeRequest
from sundown.models import AccountModel, VersionConflict, load, save_versioned
from sundown.observability import count, logger
from sundown.runtime import runtime

REASON = "idle free account"
# Keep this much of the invocation for the checkpoint and the re-enqueue.
TIME_RESERVE_MS = 10_000
# After this long with no progress the sweep dispatches the purge again (its watchdog).
REDISPATCH_AFTER = timedelta(hours=1)
MAX_VERIFICATION_FAILURES = 3
# While the kill switch is on, a purge request is put back with SQS's longest delay.
PAUSED_RETRY_SECONDS = 900
# A journal entry lives on the account item (400 KB at most): keep each batch well below.
JOURNAL_BYTES = 256_000

Store = TableStore | BucketStore
COUNTERS = ("items_deleted", "object_versions_deleted", "delete_markers_deleted", "uploads_aborted")


class PurgeIncomplete(Exception):
    """Verification keeps finding data: retried by SQS, then parked in the DLQ with an alarm."""


def phases(store: Store) -> tuple[str, ...]:
    return ("items",) if isinstance(store, TableStore) else ("objects", "uploads")


# --- Sweep side --------------------------------------------------------------------------------------


def start_purge(account: AccountModel, now: datetime) -> None:
    """Mark the account ``purging`` (no way back), then ask the worker to empty its stores."""
    rt = runtime()
    stores = rt.settings.all_stores.stores
    account.status = "purging"
    account.purge_progress = {
        "started_at": iso(now),
        "requested_at": iso(now),
        "pass": 1,
        "store": 0,
        "phase": 0,
        "cursor": None,
        "pending": None,
        "verification_failures": 0,
        "counts": {s.label: dict.fromkeys(COUNTERS, 0) for s in stores},
    }
    account.schedule(now + REDISPATCH_AFTER, rt.settings.due_index_shards)
    save_versioned(account)
    audit.record(account.account_id, "purge_started", now)
    count("PurgeStarted")
    _enqueue(account.account_id, now)


def redispatch(account: AccountModel, now: datetime) -> None:
    """The watchdog: a purge that made no progress for a while (a lost message) is enqueued again."""
    account.schedule(now + REDISPATCH_AFTER, runtime().settings.due_index_shards)
    save_versioned(account)
    count("PurgeRedispatched")
    _enqueue(account.account_id, now)


def _enqueue(account_id: str, requested_at: datetime, delay_seconds: int = 0) -> None:
    queue = runtime().settings.purge_queue_url
    if not queue:
        raise RuntimeError("PURGE_QUEUE_URL is not set")
    body = json.dumps({"account_id": account_id, "requested_at": iso(requested_at)})
    storage.send_message(queue, body, delay_seconds=delay_seconds)


# --- Worker side -------------------------------------------------------------------------------------


@dataclass
class Budget:
    remaining_ms: Callable[[], int]
    pages: int = 0

    def exhausted(self) -> bool:
        # The first page is always done, however little time is left: every invocation progresses.
        return self.pages > 0 and self.remaining_ms() < TIME_RESERVE_MS


def handle_purge_request(request: PurgeRequest, delivery: Any) -> str:
    """The worker's entry point. "Now" is when the request was sent (SQS's SentTimestamp), else its time."""
    now = delivery.sent_at or request.requested_at
    return run_purge(request, now, delivery.context.get_remaining_time_in_millis)


def run_purge(request: PurgeRequest, now: datetime, remaining_ms: Callable[[], int]) -> str:
    """Purge as far as the time allows. Returns ``deleted``, ``continued`` or ``already_deleted``."""
    runtime()  # settings and table bindings on first use
    budget = Budget(remaining_ms)
    for _ in range(100):
        account = load(request.account_id)
        if account is None:
            raise UnknownAccount(f"no account {request.account_id!r} to purge", account_id=request.account_id)
        if account.status == "deleted":
            _finish_tombstone(account, now)  # a redelivery after a crash past the tombstone
            return "already_deleted"
        if account.status == "purging" and runtime().settings.destruction_paused:
            # The kill switch stops purges already under way too; the request comes back later.
            count("PurgePaused")
            logger.warning("purge paused by the kill switch", extra={"account_id": account.account_id})
            _enqueue(account.account_id, request.requested_at, delay_seconds=PAUSED_RETRY_SECONDS)
            return "paused"
        if account.status != "purging":
            raise InvalidEvent(
                f"account {request.account_id!r} is {account.status}, not purging: nothing to do",
                account_id=request.account_id,
            )
        try:
            return _work(account, now, budget)
        except VersionConflict:
            continue  # another worker moved the purge on: read it again and carry on from there
    raise RuntimeError(f"purge of {request.account_id!r} kept racing with another worker")


def _work(account: AccountModel, now: datetime, budget: Budget) -> str:
    stores = runtime().settings.all_stores.stores
    progress: dict[str, Any] = account.purge_progress
    while True:
        if progress["pending"]:
            _settle(account, progress, stores, now)
            budget.pages += 1
            continue
        if budget.exhausted():
            _enqueue(account.account_id, parse_time(progress["requested_at"]))
            logger.info("purge continues in a new invocation", extra={"account_id": account.account_id})
            return "continued"
        if progress["store"] >= len(stores):
            if _verify_and_finish(account, progress, stores, now):
                return "deleted"
            continue  # data was left: another pass has started
        store = stores[progress["store"]]
        phase = phases(store)[progress["phase"]]
        page = _list(store, phase, account.account_id, progress["cursor"])
        if not page.entries:
            if page.next_cursor is None:
                _next_phase(progress, stores)
            else:
                progress["cursor"] = page.next_cursor  # an empty page that isn't the last
            save_versioned(account)
            continue
        batch = _fit(page.entries)
        whole = len(batch) == len(page.entries)
        # Journal first: whatever happens next, this batch is deleted and counted exactly once.
        progress["pending"] = {
            "store": progress["store"],
            "phase": phase,
            "entries": batch,
            "next_cursor": page.next_cursor,
            "last_page": whole and page.next_cursor is None,
        }
        save_versioned(account)


def _settle(account: AccountModel, progress: dict[str, Any], stores: list[Store], now: datetime) -> None:
    pending = progress["pending"]
    store = stores[pending["store"]]
    entries = pending["entries"]
    failed = _delete(store, pending["phase"], entries)
    failed_ids = {json.dumps(e, sort_keys=True) for e in failed}
    done = [e for e in entries if json.dumps(e, sort_keys=True) not in failed_ids]
    counts = progress["counts"].setdefault(store.label, dict.fromkeys(COUNTERS, 0))
    for entry in done:
        counts[_counter(pending["phase"], entry)] += 1
    if failed:
        count("PurgeDeleteFailures", len(failed))
        logger.error(
            "some deletions kept failing; verification will retry them",
            extra={"account_id": account.account_id, "store": store.label, "failed": len(failed)},
        )
        # Step past them for now (they stay listed first otherwise); verification starts another pass.
        progress["cursor"], finished = pending["next_cursor"], pending["next_cursor"] is None
    else:
        # Deleted entries vanish from the listing, so the next page starts at the beginning again.
        progress["cursor"], finished = None, pending["last_page"]
    progress["pending"] = None
    if finished:
        _next_phase(progress, stores)
    account.schedule(now + REDISPATCH_AFTER, runtime().settings.due_index_shards)  # heartbeat
    save_versioned(account)


def _verify_and_finish(
    account: AccountModel, progress: dict[str, Any], stores: list[Store], now: datetime
) -> bool:
    """Re-list every store; True once the account is a tombstone, False when another pass is needed."""
    remaining = {s.label: _leftovers(s, account.account_id) for s in stores}
    if any(remaining.values()):
        progress["verification_failures"] += 1
        progress.update(store=0, phase=0, cursor=None)
        progress["pass"] += 1
        count("PurgeVerificationFailed")
        logger.error(
            "purge verification found data left; starting another pass",
            extra={"account_id": account.account_id, "remaining": remaining},
        )
        save_versioned(account)
        if progress["verification_failures"] >= MAX_VERIFICATION_FAILURES:
            raise PurgeIncomplete(
                f"purge of {account.account_id!r} still finds data after {progress['pass'] - 1} passes: {remaining}"
            )
        return False
    certificate = {
        "account_id": account.account_id,
        "reason": REASON,
        "started_at": progress["started_at"],
        "finished_at": iso(now),
        "stores": progress["counts"],
        "totals": {c: sum(s.get(c, 0) for s in progress["counts"].values()) for c in COUNTERS},
        "verification": {
            "result": "verified",
            "checked_at": iso(now),
            "passes": progress["pass"],
            "remaining": remaining,
        },
    }
    # The tombstone: a new item with no personal data (the address stays until the confirmation is sent).
    tombstone = AccountModel(
        account.account_id,
        status="deleted",
        plan="free",
        created_at=account.created_at,
        deleted_at=now,
        deletion_reason=REASON,
        certificate=certificate,
        owner_email=account.owner_email,
        version=account.version,
    )
    save_versioned(tombstone)
    count("AccountDeleted")
    _finish_tombstone(tombstone, now)
    return True


def _finish_tombstone(tombstone: AccountModel, now: datetime) -> None:
    """Everything after the tombstone, safe to repeat: the audit entries (written once), then the email."""
    certificate = tombstone.certificate or {}
    at = tombstone.deleted_at or now
    audit.record(
        tombstone.account_id, "purge_verified", at, passes=certificate.get("verification", {}).get("passes")
    )
    audit.record(tombstone.account_id, "deleted", at, **certificate.get("totals", {}))
    _confirm_deletion(tombstone, now)


def _confirm_deletion(tombstone: AccountModel, now: datetime) -> None:
    """Tell the owner it's done, then forget the address. A failed send raises, so SQS retries it."""
    if not tombstone.owner_email:
        return
    email = notifications.deletion_confirmation(
        tombstone.owner_email, tombstone.account_id, tombstone.deleted_at or now
    )
    notifications.send(email, runtime().settings.sender_email)
    tombstone.owner_email = None
    save_versioned(tombstone)


# --- Per store -------------------------------------------------------------------------------------


def _list(store: Store, phase: str, account_id: str, cursor: dict[str, Any] | None) -> storage.Page:
    if isinstance(store, TableStore):
        return storage.query_keys_page(store.table, store.partition_key, account_id, cursor)
    prefix = store.prefix_for(account_id)
    if phase == "objects":
        return storage.list_versions_page(store.bucket, prefix, cursor)
    return storage.list_uploads_page(store.bucket, prefix, cursor)


def _delete(store: Store, phase: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(store, TableStore):
        return storage.delete_items(store.table, entries)
    if phase == "objects":
        return storage.delete_versions(store.bucket, entries)
    return storage.abort_uploads(store.bucket, entries)


def _leftovers(store: Store, account_id: str) -> int:
    if isinstance(store, TableStore):
        return storage.items_left_in_partition(store.table, store.partition_key, account_id)
    return sum(storage.leftovers_under_prefix(store.bucket, store.prefix_for(account_id)))


def _counter(phase: str, entry: dict[str, Any]) -> str:
    if phase == "items":
        return "items_deleted"
    if phase == "uploads":
        return "uploads_aborted"
    return "delete_markers_deleted" if entry["marker"] else "object_versions_deleted"


def _next_phase(progress: dict[str, Any], stores: list[Store]) -> None:
    progress["cursor"] = None
    if progress["phase"] + 1 < len(phases(stores[progress["store"]])):
        progress["phase"] += 1
    else:
        progress.update(store=progress["store"] + 1, phase=0)


def _fit(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As many entries as a journal can hold (S3 keys can be 1 KB each)."""
    size, fitted = 0, []
    for entry in entries:
        size += len(json.dumps(entry)) + 2
        if fitted and size > JOURNAL_BYTES:
            break
        fitted.append(entry)
    return fitted
