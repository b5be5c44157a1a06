"""Several server URLs: clients of one process take them in turn, and fail over in order."""

from __future__ import annotations

from collections import Counter

import pytest

from sqlenv_client import AsyncSQLEnvClient, SQLEnvClient
from sqlenv_client._shared.settings import ClientSettings, spread


def test_clients_take_the_urls_in_turn() -> None:
    urls = ["http://127.0.0.1:9101", "http://127.0.0.1:9102", "http://127.0.0.1:9103"]
    clients = [SQLEnvClient(urls) for _ in range(9)] + [AsyncSQLEnvClient(urls) for _ in range(3)]
    assert Counter(c.settings.base_url for c in clients) == Counter({u: 4 for u in urls})
    # Each client fails over through the others, starting after its own.
    first = clients[0].settings
    assert first.urls[0] == first.base_url and sorted(first.urls) == urls


def test_one_string_may_name_several_servers() -> None:
    first, order = spread(" http://a:1 , http://b:2,")
    assert order in (("http://a:1", "http://b:2"), ("http://b:2", "http://a:1")) and first == order[0]
    with pytest.raises(ValueError, match="names no server"):
        spread(" , ")


def test_failover_tries_each_other_server_once_until_one_answers() -> None:
    settings = ClientSettings("http://a:1", urls=("http://a:1", "http://b:2", "http://c:3"))
    assert settings.failover() and settings.base_url == "http://b:2"
    assert settings.failover() and settings.base_url == "http://c:3"
    assert not settings.failover()  # every server tried since the last success
    settings.succeeded()
    assert settings.failover() and settings.base_url == "http://a:1"


def test_an_http_client_object_talks_to_one_server_only() -> None:
    import httpx

    with httpx.Client() as given, pytest.raises(ValueError, match="one base_url"):
        SQLEnvClient(["http://a:1", "http://b:2"], transport="http", http_client=given)
