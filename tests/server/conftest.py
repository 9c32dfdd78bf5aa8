"""One `localctx serve smollm2` process for the server tests (started once: loading costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.serve_proc import FLAGS, ServeProcess, server_env

API_KEY = "test-key-123"
ORIGIN = "http://allowed.example"


@pytest.fixture(scope="session")
def serve_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-home")


@pytest.fixture(scope="session")
def serve_env(serve_home: Path, models_dir: Path) -> dict[str, str]:
    return server_env(serve_home, models_dir)


@pytest.fixture(scope="session")
def server(serve_env: dict[str, str]) -> Iterator[ServeProcess]:
    srv = ServeProcess(["smollm2", *FLAGS, "--api-key", API_KEY, "--cors-origin", ORIGIN, "--max-body", "65536",
                        "--queue", "8"], serve_env)
    yield srv
    assert srv.stop() == 0


@pytest.fixture
def client(server: ServeProcess) -> object:
    import openai

    return openai.OpenAI(base_url=server.url, api_key=API_KEY, max_retries=0, timeout=60)
