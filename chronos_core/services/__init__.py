"""Use cases combining domain, storage, FIWARE clients and ML code (no Prefect)."""
