"""A local Prefect server (UI and API) started as a child process of ``chronos serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chronos_core.errors import ExternalServiceError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
#: A fresh server migrates its database first; on a busy 2-core machine that takes a while.
STARTUP_TIMEOUT_SECONDS = 240.0


def prefect_api_healthy(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


class LocalPrefectServer:
    """``prefect server start`` with its own ``PREFECT_HOME``, stopped with SIGTERM on exit."""

    def __init__(
        self,
        home: Path,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    ) -> None:
        self.home = Path(home).expanduser()
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def server_environment(self) -> dict[str, str]:
        """The settings the server process gets, all naming this host and port.

        ``--port`` alone moves the API but not the address the UI calls: that comes from
        ``PREFECT_SERVER_API_HOST``/``PORT`` (default 4200) or ``PREFECT_UI_API_URL``, so a UI on
        another port would talk to whatever server answers at 4200.
        """
        return {
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": self.host,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_SERVER_UI_API_URL": self.api_url,
        }

    def is_healthy(self) -> bool:
        return prefect_api_healthy(self.api_url)

    def start(self) -> None:
        if self.is_healthy():
            raise ExternalServiceError(
                f"a Prefect server already answers at {self.api_url}; set "
                f"PREFECT_API_URL={self.api_url} to use it, or pick another --port"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.server_environment()}
        env.pop("PREFECT_API_URL", None)
        with self.log_path.open("ab") as log:
            command = [sys.executable, "-m", "prefect", "server", "start"]
            self._process = subprocess.Popen(
                [*command, "--host", self.host, "--port", str(self.port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: a terminal's Ctrl-C reaches us, and we stop it in order.
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise ExternalServiceError(
                    f"the Prefect server exited with code {code} while starting; "
                    f"see {self.log_path}"
                )
            if self.is_healthy():
                return
            time.sleep(0.5)
        self.stop()
        raise ExternalServiceError(
            f"the Prefect server did not answer within {self.startup_timeout:.0f} s; "
            f"see {self.log_path}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> LocalPrefectServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
