import socket

import pytest

from tests.conftest import NetworkAccessBlocked


def test_external_connection_is_blocked():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkAccessBlocked):
            s.connect(("93.184.216.34", 80))
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


def test_hub_download_fails_fast_offline(tmp_path):
    import time

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    t0 = time.perf_counter()
    with pytest.raises(LocalEntryNotFoundError):
        hf_hub_download("THUDM/CogVideoX-2b", "model_index.json", cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 5
