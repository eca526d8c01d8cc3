"""tests/conftest.py's network guard: any connection off the loopback fails at once; loopback still works; the hub
client, offline, fails without trying the network."""

import socket

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import LocalEntryNotFoundError


def test_external_connection_is_blocked():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(RuntimeError, match="tests may not reach the network") as err:
            s.connect(("93.184.216.34", 80))
        assert type(err.value).__name__ == "NetworkAccessBlocked"
    finally:
        s.close()


def test_loopback_is_allowed():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.connect(server.getsockname())  # must not raise
        conn, _ = server.accept()
        conn.close()
    finally:
        client.close()
        server.close()


def test_hub_download_fails_offline_without_trying_the_network(tmp_path, monkeypatch):
    tried = []
    guarded = socket.socket.connect

    def record(self, address):
        tried.append(address)
        return guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", record)
    with pytest.raises(LocalEntryNotFoundError):
        hf_hub_download("THUDM/CogVideoX-2b", "model_index.json", cache_dir=tmp_path)
    assert tried == []
