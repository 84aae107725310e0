"""A local, in-memory emulation of the FIWARE services Chronos talks to.

STH-Comet, Orion (NGSI v2), Orion-LD (NGSI-LD) with the NGSI-LD temporal API, and the IoT Agent
northbound API, reproducing the recorded behaviour of the real services byte for byte where the
recordings say so. For demos, CI and fault-injection tests; not for production data.
"""

from fiware_sandbox.faults import Fault
from fiware_sandbox.iot_agent import IoTAgentEmulator
from fiware_sandbox.ngsi_ld_temporal import TemporalEmulator
from fiware_sandbox.orion import OrionEmulator
from fiware_sandbox.orion_ld import OrionLdEmulator
from fiware_sandbox.recorder import NotificationRecorder, RecordedRequest
from fiware_sandbox.sandbox import FiwareSandbox, SandboxStartError, run_sandbox
from fiware_sandbox.seeding import read_series_csv
from fiware_sandbox.server import ServiceServer
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.sth_comet import SthCometEmulator

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
