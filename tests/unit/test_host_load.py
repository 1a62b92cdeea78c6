"""The least-loaded host is tried first; equal loads keep the span's own order."""

import pytest

from workers.host_load import HostLoad


def test_least_loaded_host_comes_first_and_ties_keep_their_order() -> None:
    load = HostLoad()
    hosts = ["http://a", "http://b", "http://c"]
    assert load.least_loaded_first(hosts) == hosts
    with load.calling("http://a"), load.calling("http://a"), load.calling("http://b"):
        assert load.least_loaded_first(hosts) == ["http://c", "http://b", "http://a"]
        assert load.least_loaded_first(["http://b", "http://a"]) == ["http://b", "http://a"]
    assert load.least_loaded_first(["http://c", "http://a", "http://b"]) == ["http://c", "http://a", "http://b"]


def test_a_failed_call_is_no_longer_counted() -> None:
    load = HostLoad()
    with pytest.raises(RuntimeError), load.calling("http://a"):
        raise RuntimeError("the server hung up")
    assert load.least_loaded_first(["http://a", "http://b"]) == ["http://a", "http://b"]
