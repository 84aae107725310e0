"""httpx clients for STH-Comet, Orion, Orion-LD, the NGSI-LD temporal API and the IoT Agent, and
STH paging. Import from the modules (``chronos_core.fiware.orion`` and so on)."""
