"""``chronos --help`` stays fast: no database driver, Prefect or TensorFlow at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cli.main import app\n"
        "for args in ([], ['--help'], ['models', '--help'], ['train', '--help']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert 'Usage' in result.output, (args, result.output)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules}\n"
        "               & {'prefect', 'pymongo', 'tensorflow', 'keras', 'pandas', 'httpx'})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_every_command_has_help() -> None:
    from typer.main import get_command
    from typer.testing import CliRunner

    from cli.main import app

    root = get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(root, [])
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output
    assert ["models", "create"] in paths and ["forecast", "history"] in paths
