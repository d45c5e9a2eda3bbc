"""Retries of registry calls and the alias-lease wait: how many attempts, which waits, which
errors are retried, and what is raised in the end (the waits are recorded, not slept)."""

from __future__ import annotations

import time

import pytest
from registry_testkit import FAST_RETRY

from affectgpt.registry import RegistryClient, RetryPolicy
from affectgpt.registry.errors import Refused, RegistryUnavailable
from affectgpt.registry.lock import AliasLease, ensure_lock_model, hold_lease


@pytest.fixture()
def waits(monkeypatch) -> list[float]:
    """Every sleep of the code under test, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def _flaky(failures: int, error: Exception):
    calls = []

    def call(value):
        calls.append(value)
        if len(calls) <= failures:
            raise error
        return value * 2

    return call, calls


def test_policy_backoff_doubles_and_is_capped(monkeypatch):
    assert RetryPolicy(attempts=6, first_delay_s=0.5, max_delay_s=3.0).delays_s() == [0.5, 1.0, 2.0, 3.0, 3.0]
    monkeypatch.setenv("AFFECTGPT_REGISTRY_RETRIES", "0")
    monkeypatch.setenv("AFFECTGPT_REGISTRY_RETRY_DELAY_S", "0.25")
    assert RetryPolicy.from_env() == RetryPolicy(attempts=1, first_delay_s=0.25)


def test_transient_failures_are_retried_with_the_policy_waits(sqlite_uri, waits):
    client = RegistryClient(sqlite_uri, RetryPolicy(attempts=4, first_delay_s=0.5, max_delay_s=1.5))
    fn, calls = _flaky(2, ConnectionError("Connection refused"))
    assert client.call("read something", fn, 21) == 42
    assert calls == [21, 21, 21] and waits == [0.5, 1.0]


def test_running_out_of_attempts_is_one_registry_unavailable(sqlite_uri, waits):
    client = RegistryClient(sqlite_uri, RetryPolicy(attempts=4, first_delay_s=0.5, max_delay_s=1.5))
    cause = RuntimeError("API request to http://x failed with error code 503 != 200")
    fn, calls = _flaky(99, cause)
    with pytest.raises(RegistryUnavailable, match=r"trying to read something \(4 attempts over 3\.0 s\)") as raised:
        client.call("read something", fn, 1)
    assert len(calls) == 4 and waits == [0.5, 1.0, 1.5]
    assert raised.value.__cause__ is cause


def test_other_errors_are_raised_at_once(sqlite_uri, waits):
    client = RegistryClient(sqlite_uri, FAST_RETRY)
    fn, calls = _flaky(1, ValueError("RESOURCE_DOES_NOT_EXIST: no such model"))
    with pytest.raises(ValueError, match="no such model"):
        client.call("read something", fn, 1)
    assert len(calls) == 1 and waits == []


def test_lease_wait_backs_off_and_takes_the_lease_once_released(sqlite_client, waits, monkeypatch):
    ensure_lock_model(sqlite_client, "waiting")
    other = AliasLease(sqlite_client, "waiting", "alice", 60.0)
    other.take_ticket()

    def sleep_then_release_on_third(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            other.release()

    monkeypatch.setattr(time, "sleep", sleep_then_release_on_third)
    with hold_lease(sqlite_client, "waiting", holder="bob", wait_s=60.0) as lease:
        assert lease.ticket is not None and int(lease.ticket) > int(other.ticket)
    assert waits == [0.05, 0.1, 0.2]


def test_lease_wait_gives_up_naming_the_holder(sqlite_client, waits):
    ensure_lock_model(sqlite_client, "held")
    other = AliasLease(sqlite_client, "held", "alice", 60.0)
    other.take_ticket()
    try:
        with (pytest.raises(Refused, match=r"held: another alias change holds the lease \(holder alice\)"),
              hold_lease(sqlite_client, "held", holder="bob", wait_s=1.0)):
            pytest.fail("the lease was taken while alice held it")
        assert waits[:6] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0] and set(waits[5:]) == {1.0}
    finally:
        other.release()
    with hold_lease(sqlite_client, "held", holder="bob", wait_s=0.0):  # bob's own ticket was given up
        pass
