"""Networks to and from bytes in the Keras 3 native ``.keras`` format (zip of JSON config and
weights). Loading uses ``safe_mode=True``: lambdas and pickled objects are refused."""

from __future__ import annotations

import os
import tempfile
import zipfile
from io import BytesIO
from typing import TYPE_CHECKING

from chronos_core.errors import InvalidInput
from chronos_core.ml import tf_runtime

if TYPE_CHECKING:
    import keras

KERAS_CONTENT_TYPE = "application/x-keras"
KERAS_SUFFIX = ".keras"


def serialize_network(network: keras.Model) -> bytes:
    """The network as ``.keras`` bytes: architecture, weights and (if compiled) optimizer state."""
    keras = tf_runtime.keras_module()
    with tempfile.TemporaryDirectory(prefix="chronos-model-") as directory:
        path = os.path.join(directory, "network" + KERAS_SUFFIX)
        keras.saving.save_model(network, path)
        with open(path, "rb") as handle:
            return handle.read()


def load_network(data: bytes, *, compile: bool = False) -> keras.Model:
    """Rebuild a network from :func:`serialize_network` bytes with ``safe_mode=True``.

    ``compile=False`` (default) gives an inference-only network; ``compile=True`` restores the
    loss and optimizer (to continue training). Raises ``InvalidInput`` when the
    bytes are not a loadable ``.keras`` archive or contain unsafe objects.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise InvalidInput("invalid model artifact: expected non-empty .keras bytes")
    payload = bytes(data)
    if not zipfile.is_zipfile(BytesIO(payload)):
        raise InvalidInput("invalid model artifact: not a .keras (zip) archive")
    keras = tf_runtime.keras_module()
    with tempfile.TemporaryDirectory(prefix="chronos-model-") as directory:
        path = os.path.join(directory, "network" + KERAS_SUFFIX)
        with open(path, "wb") as handle:
            handle.write(payload)
        try:
            return keras.saving.load_model(path, compile=compile, safe_mode=True)
        except Exception as error:  # Keras raises ValueError/TypeError/KeyError/OSError variants
            raise InvalidInput(
                f"invalid model artifact: cannot load the network ({error})"
            ) from None
