"""The FIWARE sandbox: STH-Comet, Orion and the IoT Agent (and, given ports, Orion-LD and the
NGSI-LD temporal API) emulated in one process.

::

    with FiwareSandbox() as sandbox:                # free ports on 127.0.0.1
        sandbox.sth.seed(Tenant("smart", "/"), "Room", "Room1", "temperature", series)
        settings = Settings(sth_url=sandbox.sth_url, orion_url=sandbox.orion_url, ...)

The sandbox Orion delivers subscription notifications for the sandbox STH-Comet in-process, so
``attrsFormat: legacy`` subscriptions store history exactly as in a real stack.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from chronos_core.errors import ChronosError
from fiware_sandbox.iot_agent import IoTAgentEmulator, Registry
from fiware_sandbox.ngsi_ld_temporal import TemporalEmulator
from fiware_sandbox.orion import OrionEmulator, OrionVersion
from fiware_sandbox.orion_ld import OrionLdEmulator
from fiware_sandbox.server import ServiceServer
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.sth_comet import SthCometEmulator

logger = logging.getLogger("chronos.sandbox")


class SandboxStartError(ChronosError):
    """A sandbox service could not be served (typically: the port is taken)."""


class FiwareSandbox:
    """The three emulated services, each served on its own port (``None``: not served).

    The emulators (``.sth``, ``.orion``, ``.iot_agent``) always exist; only served ones have a
    URL. Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        sth_port: int | None = 0,
        orion_port: int | None = 0,
        iot_agent_port: int | None = 0,
        *,
        orion_version: OrionVersion = "3.10.1",
        iot_agent_registry: Registry = "mongodb",
        sth_max_page_size: int = 100,
        orion_ld_port: int | None = None,
        temporal_port: int | None = None,
        orion_ld_troe: bool = False,
        temporal_max_instances: int = 1000,
        orion_delivery_delay_seconds: float = 0.0,
    ) -> None:
        ports = {
            "sth_port": sth_port,
            "orion_port": orion_port,
            "iot_agent_port": iot_agent_port,
            "orion_ld_port": orion_ld_port,
            "temporal_port": temporal_port,
        }
        for label, port in ports.items():
            if port is not None and not 0 <= port <= 65535:
                raise SandboxStartError(f"{label} must be between 0 and 65535, got {port}")
        self.host = host
        self.sth = SthCometEmulator(max_page_size=sth_max_page_size)
        self.orion = OrionEmulator(
            version=orion_version, delivery_delay_seconds=orion_delivery_delay_seconds
        )
        self.iot_agent = IoTAgentEmulator(registry=iot_agent_registry)
        #: NGSI-LD: Orion-LD, and the temporal API over the history it records (see
        #: ``orion_ld.py``, ``ngsi_ld_temporal.py``); served only when given a port.
        self.orion_ld = OrionLdEmulator(troe=orion_ld_troe)
        self.temporal = TemporalEmulator(self.orion_ld, max_instances=temporal_max_instances)
        self._services: dict[str, EmulatedService] = {
            "sth": self.sth,
            "orion": self.orion,
            "iot_agent": self.iot_agent,
            "orion_ld": self.orion_ld,
            "ngsi_ld_temporal": self.temporal,
        }
        self._ports = dict(zip(self._services, ports.values(), strict=True))
        self._servers: dict[str, ServiceServer] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FiwareSandbox:
        if self._servers:
            return self
        services = self._services
        try:
            for key, port in self._ports.items():
                if port is None:
                    continue
                try:
                    server = ServiceServer(services[key], self.host, port)
                except OSError as exc:
                    raise SandboxStartError(
                        f"cannot serve the sandbox {services[key].name} on {self.host}:{port}: "
                        f"{exc.strerror or exc} (pick another port, or 0 for any free port)"
                    ) from None
                self._servers[key] = server
            for server in self._servers.values():
                server.start()
        except BaseException:
            self.stop()
            raise
        if "sth" in self._servers:
            sth_server = self._servers["sth"]
            self.orion.register_receiver(f"http://{self.host}:{sth_server.port}", self.sth)
            self.orion.register_receiver(sth_server.url, self.sth)
        logger.info("FIWARE sandbox ready: %s", self.urls)
        return self

    def stop(self) -> None:
        servers, self._servers = self._servers, {}
        for server in servers.values():
            server.stop()

    def __enter__(self) -> FiwareSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def clear(self) -> None:
        """Empty every service (data, subscriptions, devices, pending faults)."""
        for service in self._services.values():
            service.clear()

    # ------------------------------------------------------------------ URLs

    def _url(self, key: str) -> str:
        server = self._servers.get(key)
        if server is None:
            state = "disabled" if self._ports[key] is None else "not started"
            raise RuntimeError(f"the sandbox {key} service is {state}")
        return server.url

    @property
    def sth_url(self) -> str:
        return self._url("sth")

    @property
    def orion_url(self) -> str:
        return self._url("orion")

    @property
    def iot_agent_url(self) -> str:
        return self._url("iot_agent")

    @property
    def orion_ld_url(self) -> str:
        return self._url("orion_ld")

    @property
    def temporal_url(self) -> str:
        return self._url("ngsi_ld_temporal")

    @property
    def urls(self) -> dict[str, str]:
        """Served services' URLs, keyed like the settings: sth_url, orion_url, iot_agent_url."""
        return {f"{key}_url": server.url for key, server in self._servers.items()}


def run_sandbox(
    host: str = "127.0.0.1",
    sth_port: int | None = 8666,
    orion_port: int | None = 1026,
    iot_agent_port: int | None = 4041,
    on_ready: Callable[[dict[str, str]], None] | None = None,
    *,
    setup: Callable[[FiwareSandbox], None] | None = None,
    stop_event: threading.Event | None = None,
    orion_version: OrionVersion = "3.10.1",
    iot_agent_registry: Registry = "mongodb",
    orion_ld_port: int | None = None,
    temporal_port: int | None = None,
) -> None:
    """Serve the sandbox in the foreground until SIGTERM/SIGINT (or ``stop_event`` is set).

    ``setup`` runs once the services are up (e.g. to seed data); ``on_ready`` then receives
    ``{"sth_url": ..., "orion_url": ..., "iot_agent_url": ...}`` for the served services (and
    ``orion_ld_url``, ``ngsi_ld_temporal_url`` when the NGSI-LD parts have ports).
    """
    stop = stop_event or threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def request_stop(signum: int, frame: FrameType | None) -> None:
        logger.info("FIWARE sandbox stopping (signal %d)", signum)
        stop.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    with FiwareSandbox(
        host,
        sth_port,
        orion_port,
        iot_agent_port,
        orion_version=orion_version,
        iot_agent_registry=iot_agent_registry,
        orion_ld_port=orion_ld_port,
        temporal_port=temporal_port,
    ) as sandbox:
        if in_main_thread:
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, request_stop)
        try:
            if setup is not None:
                setup(sandbox)
            if on_ready is not None:
                on_ready(sandbox.urls)
            while not stop.wait(0.2):
                pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
