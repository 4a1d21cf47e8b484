"""Settings (sundown.settings): read from the environment the template gives each function, validated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from sundown.settings import Settings

SETTING_VARS = (
    "ACCOUNTS_TABLE",
    "IDEMPOTENCY_TABLE",
    "SENDER_EMAIL",
    "AWS_REGION",
    "IDLE_DAYS",
    "WARNING_DAYS",
    "SHORTEST_NOTICE_DAYS",
    "GRACE_DAYS",
    "GRACE_REMINDER_DAYS",
    "DUE_INDEX_SHARDS",
    "DATA_MAP",
    "EXTRA_DATA_MAP",
    "DOCUMENTS_BUCKET",
    "NETWORK_IDS_TABLE",
    "AUDIT_TABLE",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment holding only the required settings."""
    for name in SETTING_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("ACCOUNTS_TABLE", "sundown-accounts")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "sundown-idempotency")
    monkeypatch.setenv("SENDER_EMAIL", "noreply@example.com")
    return monkeypatch


def invalid() -> ValidationError:
    """Instantiating Settings fails; the error is returned for inspection."""
    with pytest.raises(ValidationError) as caught:
        Settings()
    return caught.value


def test_defaults_match_the_spec(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.accounts_table == "sundown-accounts"
    assert settings.idempotency_table == "sundown-idempotency"
    assert settings.sender_email == "noreply@example.com"
    assert settings.aws_region == "us-east-1"
    assert settings.idle_days == 30
    assert settings.warning_days == (14, 7, 3, 1)
    assert settings.shortest_notice_days == 1
    assert settings.grace_days == 7
    assert settings.grace_reminder_days == ()  # SPEC: no reminder during the grace period by default
    assert settings.due_index_shards == 4
    assert settings.idle_period == timedelta(days=30)
    assert settings.shortest_notice == timedelta(days=1)
    assert settings.grace_period == timedelta(days=7)


def test_values_come_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("AWS_REGION", "eu-west-1")
    env.setenv("IDLE_DAYS", "45")
    env.setenv("SHORTEST_NOTICE_DAYS", "0.5")
    env.setenv("GRACE_DAYS", "10")
    env.setenv("DUE_INDEX_SHARDS", "8")
    settings = Settings()
    assert settings.aws_region == "eu-west-1"
    assert settings.idle_period == timedelta(days=45)
    assert settings.shortest_notice == timedelta(hours=12)
    assert settings.grace_period == timedelta(days=10)
    assert settings.due_index_shards == 8


def test_warning_days_are_parsed_from_a_comma_list_and_sorted_largest_first(env: pytest.MonkeyPatch) -> None:
    env.setenv("WARNING_DAYS", "7, 14,1")
    assert Settings().warning_days == (14, 7, 1)


def test_a_single_warning_day_is_accepted(env: pytest.MonkeyPatch) -> None:
    env.setenv("WARNING_DAYS", " 5 ")
    assert Settings().warning_days == (5,)


def test_settings_are_frozen(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.idle_days = 3


@pytest.mark.parametrize(
    "value",
    ["7,x,1", "seven", "7.5,1", "7;1"],
    ids=["letter", "word", "fraction", "wrong-separator"],
)
def test_non_numeric_warning_days_are_rejected_naming_the_setting(
    env: pytest.MonkeyPatch, value: str
) -> None:
    env.setenv("WARNING_DAYS", value)
    error = invalid()
    assert "WARNING_DAYS" in str(error)
    assert error.errors()[0]["loc"] == ("warning_days",)


@pytest.mark.parametrize(
    "value",
    ["7,7,1", "0,7", "7,-1", "", " , "],
    ids=["duplicate", "zero", "negative", "empty", "only-commas"],
)
def test_invalid_warning_day_sets_are_rejected_naming_the_setting(
    env: pytest.MonkeyPatch, value: str
) -> None:
    env.setenv("WARNING_DAYS", value)
    assert "WARNING_DAYS" in str(invalid())


def test_a_warning_as_long_as_the_idle_period_is_rejected(env: pytest.MonkeyPatch) -> None:
    # given a 30-day warning with the default 30 idle days
    env.setenv("WARNING_DAYS", "30,7")
    message = str(invalid())
    assert "IDLE_DAYS" in message
    assert "30" in message


def test_shrinking_the_idle_period_below_the_default_warnings_is_rejected(env: pytest.MonkeyPatch) -> None:
    # given the default 14-day warning, when IDLE_DAYS is only 10
    env.setenv("IDLE_DAYS", "10")
    message = str(invalid())
    assert "IDLE_DAYS" in message
    assert "14" in message


def test_a_warning_just_inside_the_idle_period_is_accepted(env: pytest.MonkeyPatch) -> None:
    env.setenv("IDLE_DAYS", "10")
    env.setenv("WARNING_DAYS", "9,1")
    assert Settings().warning_days == (9, 1)


@pytest.mark.parametrize("name", ["ACCOUNTS_TABLE", "IDEMPOTENCY_TABLE", "SENDER_EMAIL"])
def test_a_missing_required_setting_is_named(env: pytest.MonkeyPatch, name: str) -> None:
    env.delenv(name)
    error = invalid()
    assert error.errors()[0]["type"] == "missing"
    assert error.errors()[0]["loc"] == (name.lower(),)
    assert name.lower() in str(error).lower()


def test_an_empty_accounts_table_is_rejected(env: pytest.MonkeyPatch) -> None:
    env.setenv("ACCOUNTS_TABLE", "")
    assert invalid().errors()[0]["loc"] == ("accounts_table",)


@pytest.mark.parametrize("value", ["not-an-email", "two@@example.com", "a b@example.com", "@example.com"])
def test_a_bad_sender_email_is_rejected_naming_the_setting(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("SENDER_EMAIL", value)
    error = invalid()
    assert error.errors()[0]["loc"] == ("sender_email",)
    assert "sender_email" in str(error)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IDLE_DAYS", "0"),
        ("IDLE_DAYS", "thirty"),
        ("GRACE_DAYS", "-1"),
        ("SHORTEST_NOTICE_DAYS", "-0.5"),
        ("DUE_INDEX_SHARDS", "0"),
        ("DUE_INDEX_SHARDS", "65"),
    ],
)
def test_out_of_range_numbers_are_rejected_naming_the_setting(
    env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    env.setenv(name, value)
    error = invalid()
    assert name.lower() in [str(part) for err in error.errors() for part in err["loc"]]
    assert name.lower() in str(error)


def test_grace_reminder_days_are_parsed_and_sorted_largest_first(env: pytest.MonkeyPatch) -> None:
    env.setenv("GRACE_REMINDER_DAYS", "1, 3")
    assert Settings().grace_reminder_days == (3, 1)
    env.setenv("GRACE_REMINDER_DAYS", "")
    assert Settings().grace_reminder_days == ()


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("3,3", "GRACE_REMINDER_DAYS"),
        ("0", "GRACE_REMINDER_DAYS"),
        ("x", "GRACE_REMINDER_DAYS"),
        ("7", "GRACE_DAYS"),
    ],
    ids=["duplicate", "zero", "not-a-number", "not-inside-the-grace-period"],
)
def test_invalid_grace_reminder_days_are_rejected_naming_the_setting(
    env: pytest.MonkeyPatch, value: str, named: str
) -> None:
    # Given reminder days that are repeated, not positive, not numbers, or as long as the 7-day grace
    env.setenv("GRACE_REMINDER_DAYS", value)
    # Then the settings refuse them and say which setting is wrong
    assert named in str(invalid())


# --- The data map may never make one tenant's purge reach what is not its own ----------------------

TEMPLATE_MAP = (
    '{"tables": [{"table": "tenant-data", "partition_key": "tenant_id"}], '
    '"buckets": [{"bucket": "docs", "prefix": "tenants/{account_id}/"}]}'
)


@pytest.fixture
def deployed(env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Given the variables the template gives: its data map, the documents bucket and the identities table."""
    env.setenv("DATA_MAP", TEMPLATE_MAP)
    env.setenv("DOCUMENTS_BUCKET", "docs")
    env.setenv("NETWORK_IDS_TABLE", "network-ids")
    env.setenv("AUDIT_TABLE", "audit")
    return env


@pytest.mark.parametrize(
    "extra",
    [
        '{"buckets": [{"bucket": "exports", "prefix": "{account_id}/"}]}',
        '{"buckets": [{"bucket": "docs", "prefix": "exports/{account_id}/"}]}',
        '{"buckets": [{"bucket": "docs", "prefix": "tenants/{account_id}/"}]}',  # the template's own, twice
        '{"tables": [{"table": "crm", "partition_key": "account"}]}',
    ],
    ids=["own-bucket-at-root", "another-folder", "same-layout-twice", "another-table"],
)
def test_extra_stores_that_cannot_reach_other_data_are_accepted(
    deployed: pytest.MonkeyPatch, extra: str
) -> None:
    deployed.setenv("EXTRA_DATA_MAP", extra)
    assert len(Settings().all_stores.stores) >= 3


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ('{"buckets": [{"bucket": "docs", "prefix": "{account_id}/"}]}', "s3:docs/network/"),
        ('{"buckets": [{"bucket": "docs", "prefix": "net{account_id}/"}]}', "s3:docs/network/"),
        ('{"buckets": [{"bucket": "docs", "prefix": "tenants/x/{account_id}/"}]}', "overlap"),
        ('{"tables": [{"table": "network-ids", "partition_key": "network_id"}]}', "table network-ids"),
        (
            '{"tables": [{"table": "sundown-accounts", "partition_key": "account_id"}]}',
            "table sundown-accounts",
        ),
        ('{"tables": [{"table": "audit", "partition_key": "subject"}]}', "table audit"),
    ],
    ids=[
        "root-of-the-documents-bucket",
        "a-prefix-of-network",
        "inside-the-tenants-folder",
        "identities",
        "accounts",
        "audit",
    ],
)
def test_extra_stores_that_could_reach_identities_or_other_tenants_are_refused(
    deployed: pytest.MonkeyPatch, extra: str, named: str
) -> None:
    # Given an extra store whose purge could delete Network IDs, Sundown's own records, or another
    # tenant's folder (an account named "network", "work" or "x" would do it)
    deployed.setenv("EXTRA_DATA_MAP", extra)
    # Then the settings refuse to load, naming the data map and what it could reach
    message = str(invalid())
    assert "EXTRA_DATA_MAP is unsafe" in message
    assert named in message
