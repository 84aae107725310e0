"""Install pip into a virtual environment created with ``--without-pip``.

Debian's ``python3`` ships without ``ensurepip`` unless ``python3-venv`` is installed; this fetches
the pip wheel from the package index and runs pip from the wheel itself to install it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/pypi/pip/json"


def main() -> int:
    with urllib.request.urlopen(INDEX, timeout=60) as response:
        release = json.load(response)
    wheel = next(u for u in release["urls"] if u["filename"].endswith(".whl"))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / wheel["filename"]
        with urllib.request.urlopen(wheel["url"], timeout=120) as response:
            target.write_bytes(response.read())
        return subprocess.call([sys.executable, f"{target}/pip", "install", "--quiet", str(target)])


if __name__ == "__main__":
    raise SystemExit(main())
