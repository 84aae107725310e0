"""Connecting to MongoDB and creating Chronos' indexes.

``connect`` keeps one ``MongoClient`` per URI in the process's runtime (pymongo clients are
thread-safe but must not cross a fork, so a forked child opens its own). With
``CHRONOS_MONGODB_URI`` unset it starts or reuses the embedded database. Datetimes come back
timezone-aware, in UTC. The URI is a secret: only :func:`redact_uri`'s form of it ever appears in
a message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pymongo import MongoClient, monitoring
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    ConnectionFailure,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from chronos_core import runtime
from chronos_core.errors import ExternalServiceError, InvalidInput
from chronos_core.settings import Settings, get_settings
from chronos_core.storage.embedded import ensure_embedded_server
from chronos_core.storage.schema import COLLECTION_INDEXES, EXPIRY_TTL_INDEX, indexes_for

Document = dict[str, Any]

_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#]*@)")
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:[^=&;#]*(?:password|secret|token|credential)[^=&;#]*"
    r"|authMechanismProperties)=)(?P<value>[^&;#]*)",
    re.IGNORECASE,
)


def redact_uri(uri: str) -> str:
    """``uri`` with user, password and secret-bearing options replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", uri.strip())
    return _SECRET_PARAM.sub(lambda m: f"{m.group('key')}***", text)


def _scrub(message: str, uri: str) -> str:
    """Remove anything secret a driver message might quote from ``uri``."""
    match = _USERINFO.match(uri.strip())
    if match:
        userinfo = match.group("userinfo")[:-1]
        for secret in {userinfo, *userinfo.split(":")}:
            if secret:
                message = message.replace(secret, "***")
    return message.replace(uri, redact_uri(uri))


def database_uri(settings: Settings) -> str:
    """The configured URI, or the embedded server's (started if needed, found once per process)."""
    if settings.mongodb_uri is not None:
        return settings.mongodb_uri.get_secret_value()
    key = (str(settings.data_dir.expanduser().resolve()), settings.embedded_port)
    uris = runtime.current().embedded_uris
    if key not in uris:
        uris[key] = ensure_embedded_server(settings.data_dir, port=settings.embedded_port).uri
    return uris[key]


#: How long an operation waits for an unreachable database before it fails. A running training
#: job whose database went away then fails within seconds; its lease recovers it later.
SERVER_SELECTION_TIMEOUT_MS = 5_000
CONNECT_TIMEOUT_MS = 5_000


class DatabaseUnavailable(ExternalServiceError):
    """The database could not be reached (down, restarting, network lost)."""


class _Contact(monitoring.ServerHeartbeatListener, monitoring.CommandListener):
    """When this process last heard from the database, and since when it no longer does."""

    def __init__(self) -> None:
        self.last_ok: datetime | None = None
        self.down_since: datetime | None = None

    def _ok(self) -> None:
        self.last_ok = datetime.now(UTC)
        self.down_since = None

    def _failed(self) -> None:
        if self.down_since is None:
            self.down_since = datetime.now(UTC)

    def started(self, event: Any) -> None:
        pass

    def succeeded(self, event: Any) -> None:
        self._ok()

    def failed(self, event: Any) -> None:
        failure = getattr(event, "failure", None)
        # A command the server refused is its answer; a driver exception (``errtype``) or a
        # failed heartbeat means it could not be reached.
        if isinstance(event, monitoring.ServerHeartbeatFailedEvent) or (
            isinstance(failure, dict) and "errtype" in failure
        ):
            self._failed()


def client_for(uri: str) -> MongoClient[Document]:
    """This process's client for ``uri`` (created on first use)."""
    state = runtime.current()
    with state.lock:
        client: MongoClient[Document] | None = state.database_clients.get(uri)
        if client is None:
            contact = _Contact()
            try:
                client = MongoClient(
                    uri,
                    tz_aware=True,
                    tzinfo=UTC,
                    appname="chronos",
                    serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
                    connectTimeoutMS=CONNECT_TIMEOUT_MS,
                    maxIdleTimeMS=60_000,
                    event_listeners=[contact],
                )
            except (ConfigurationError, ValueError, TypeError) as error:
                raise InvalidInput(
                    f"invalid MongoDB URI {redact_uri(uri)}: {_scrub(str(error), uri)}"
                ) from None
            state.database_clients[uri] = client
            state.database_contacts[uri] = contact
        return client


def is_unreachable(error: BaseException) -> bool:
    """Whether a driver error means the database could not be reached (not a refused command)."""
    return isinstance(
        error, ServerSelectionTimeoutError | AutoReconnect | ConnectionFailure | NetworkTimeout
    )


def unreachable_error(error: BaseException, db: Database[Document]) -> DatabaseUnavailable:
    """One line for a database that could not be reached: which one, and since when."""
    client = db.client
    state = runtime.current()
    contact = next(
        (state.database_contacts.get(u) for u, c in state.database_clients.items() if c is client),
        None,
    )
    # Its last answer bounds the outage; without one, when this process first saw it fail.
    since = (contact.last_ok or contact.down_since) if contact is not None else None
    hosts = ", ".join(
        f"{host}:{port}" for host, port in sorted(client.topology_description.server_descriptions())
    )
    when = f" since {since.isoformat(timespec='seconds').replace('+00:00', 'Z')}" if since else ""
    return DatabaseUnavailable(
        f"the database {db.name} at {hosts or 'its configured address'} is unreachable{when} "
        f"({type(error).__name__})",
        details={"database": db.name, "since": since.isoformat() if since else None},
    )


def connect(settings: Settings | None = None) -> Database[Document]:
    """The Chronos database named by ``settings`` (default: the process settings)."""
    settings = settings or get_settings()
    return client_for(database_uri(settings))[settings.mongodb_database]


def is_embedded_server(db: Database[Document]) -> bool:
    """Whether ``db`` is served by SecantusDB (the embedded database), whatever its address."""
    return "secantusVersion" in db.client.server_info()


def bootstrap(db: Database[Document]) -> list[tuple[str, str, bool]]:
    """Create every collection's indexes (idempotent: existing identical indexes are kept);
    returns each index as (collection, name, created now).

    On the embedded database the forecasts' expiry index has no TTL (see
    :data:`~chronos_core.storage.schema.EXPIRY_INDEX_WITHOUT_TTL`); a TTL index left there by
    an earlier version is dropped.
    """
    collection = "?"
    made: list[tuple[str, str, bool]] = []
    try:
        embedded = is_embedded_server(db)
        for collection in COLLECTION_INDEXES:
            existing = set(db[collection].index_information())
            if embedded and EXPIRY_TTL_INDEX in existing:
                db[collection].drop_index(EXPIRY_TTL_INDEX)
            indexes = indexes_for(collection, ttl_monitor=not embedded)
            db[collection].create_indexes(indexes)
            for index in indexes:
                name = index.document["name"]
                made.append((collection, name, name not in existing))
    except OperationFailure as error:
        raise ExternalServiceError(
            f"cannot create the indexes of {db.name}.{collection}: {error.details or error} "
            "(an index with the same name or keys but other options exists; drop it and "
            "start Chronos again)"
        ) from None
    except PyMongoError as error:
        raise ExternalServiceError(
            f"cannot reach the database to create indexes: {type(error).__name__}: "
            f"{str(error).splitlines()[0][:300]}"
        ) from None
    return made


def get_database(settings: Settings | None = None) -> Database[Document]:
    """Connect and, once per process and database, bootstrap the indexes."""
    settings = settings or get_settings()
    db = connect(settings)
    key = (database_uri(settings), db.name)  # the URI is cached by now
    bootstrapped = runtime.current().bootstrapped
    if key not in bootstrapped:
        bootstrap(db)
        bootstrapped.add(key)
    return db


def close_clients() -> None:
    """Close this process's clients (at shutdown, or between test sessions)."""
    runtime.current().close_database_clients()
