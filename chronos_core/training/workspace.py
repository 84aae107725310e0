"""A training job's scratch directory: collected chunks, prepared arrays, the fitted network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chronos_core import runtime


class JobWorkspace:
    """Local files that carry one training job's data from step to step.

    The workspace lives for one flow run. Nothing in it is ever read back from the database:
    GridFS only receives the final artifacts in the store step.
    """

    def __init__(self, root: Path, job_id: str) -> None:
        self.job_id = job_id
        self.path = root / job_id
        self.path.mkdir(parents=True, exist_ok=True)

    # --- collected chunks ---
    def _chunk_file(self, index: int) -> Path:
        return self.path / f"chunk-{index:06d}.npz"

    def save_chunk(self, index: int, series: pd.Series) -> None:
        timestamps = (
            pd.DatetimeIndex(series.index).as_unit("ns").asi8
            if len(series)
            else np.array([], dtype="int64")
        )
        tmp = self.path / f".chunk-{index:06d}.tmp.npz"
        np.savez(tmp, timestamps=timestamps, values=series.to_numpy(dtype="float64"))
        tmp.replace(self._chunk_file(index))

    def load_collected(self) -> pd.Series:
        """Every saved chunk, concatenated (duplicates and order are preparation's job)."""
        stamps: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for file in sorted(self.path.glob("chunk-*.npz")):
            with np.load(file) as data:
                stamps.append(data["timestamps"])
                values.append(data["values"])
        if not stamps:
            return pd.Series(
                [], index=pd.DatetimeIndex([], tz="UTC", name="timestamp"), dtype="float64"
            )
        index = pd.DatetimeIndex(pd.to_datetime(np.concatenate(stamps), utc=True), name="timestamp")
        return pd.Series(np.concatenate(values), index=index, dtype="float64")

    # --- arrays, JSON documents, binary blobs ---
    def save_arrays(self, name: str, **arrays: np.ndarray) -> None:
        """One ``.npy`` file per array in the folder ``name`` (fast to write and to map)."""
        folder = self.path / name
        folder.mkdir(exist_ok=True)
        for key, array in arrays.items():
            tmp = folder / f".{key}.tmp.npy"
            np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)
            tmp.replace(folder / f"{key}.npy")

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        """The arrays of :meth:`save_arrays`, memory-mapped read-only: a step pays memory only
        for the arrays it reads (evaluation never touches the training windows)."""
        return {
            file.stem: np.load(file, mmap_mode="r", allow_pickle=False)
            for file in sorted((self.path / name).glob("[!.]*.npy"))
        }

    def save_json(self, name: str, document: Any) -> None:
        (self.path / f"{name}.json").write_text(json.dumps(document, default=str))

    def load_json(self, name: str) -> Any:
        return json.loads((self.path / f"{name}.json").read_text())

    def save_bytes(self, name: str, data: bytes) -> None:
        (self.path / name).write_bytes(data)

    def load_bytes(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    # --- objects held in this process ---
    def keep(self, name: str, value: Any) -> None:
        """Hold ``value`` (the fitted network, work running in the background) for a later step
        of this job in this process; that step must cope with :meth:`take` answering ``None``."""
        runtime.current().kept[(self.path, name)] = value

    def take(self, name: str) -> Any:
        return runtime.current().kept.pop((self.path, name), None)

    def remove(self) -> None:
        kept = runtime.current().kept
        for key in [key for key in kept if key[0] == self.path]:
            del kept[key]
        shutil.rmtree(self.path, ignore_errors=True)
