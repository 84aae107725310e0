"""A local, in-memory emulation of the FIWARE services Chronos talks to.

STH-Comet, Orion (NGSI v2) and the IoT Agent northbound API, reproducing the recorded behaviour of
the real services byte for byte where the recordings say so. For demos, CI and fault-injection
tests; not for production data.
"""

from chronos_core.sandbox.faults import Fault
from chronos_core.sandbox.iot_agent import IoTAgentEmulator
from chronos_core.sandbox.ngsi_ld_temporal import TemporalEmulator
from chronos_core.sandbox.orion import OrionEmulator
from chronos_core.sandbox.orion_ld import OrionLdEmulator
from chronos_core.sandbox.recorder import NotificationRecorder, RecordedRequest
from chronos_core.sandbox.sandbox import FiwareSandbox, SandboxStartError, run_sandbox
from chronos_core.sandbox.seeding import read_series_csv
from chronos_core.sandbox.server import ServiceServer
from chronos_core.sandbox.service import EmulatedService
from chronos_core.sandbox.sth_comet import SthCometEmulator

__all__ = [
    "EmulatedService",
    "Fault",
    "FiwareSandbox",
    "IoTAgentEmulator",
    "NotificationRecorder",
    "OrionEmulator",
    "OrionLdEmulator",
    "RecordedRequest",
    "SandboxStartError",
    "ServiceServer",
    "SthCometEmulator",
    "TemporalEmulator",
    "read_series_csv",
    "run_sandbox",
]
