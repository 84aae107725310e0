"""``chronos serve --port N``: the UI it serves calls the API on the same port."""

from __future__ import annotations

import pytest

from cli.local_server import LocalPrefectServer
from tests import patient_http

pytestmark = pytest.mark.slow


def test_ui_settings_name_the_api_on_the_servers_own_port(
    local_prefect_server: LocalPrefectServer,
) -> None:
    server = local_prefect_server
    assert server.port != 4200
    # What the browser asks for before it calls any API: a page title proves nothing.
    ui_settings = patient_http.get(f"{server.ui_url}/ui-settings")
    assert ui_settings.json()["api_url"] == f"http://127.0.0.1:{server.port}/api"


def test_server_environment_names_one_host_and_port(tmp_path: object) -> None:
    server = LocalPrefectServer(tmp_path, host="127.0.0.1", port=4399)  # type: ignore[arg-type]
    env = server.server_environment()
    assert env["PREFECT_SERVER_API_PORT"] == "4399"
    assert env["PREFECT_SERVER_API_HOST"] == "127.0.0.1"
    assert env["PREFECT_SERVER_UI_API_URL"] == "http://127.0.0.1:4399/api"
