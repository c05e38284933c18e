"""The package as it would be published: wheel and sdist built, checked by twine, and the wheel installed into
a fresh virtual environment (no development dependencies) where the command and a one-route app run."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

APP = """
from collections.abc import AsyncIterable

from linestream import LineStream
from linestream.testing import TestClient, iter_json_lines

app = LineStream()


@app.get("/numbers")
async def numbers() -> AsyncIterable[int]:
    for number in range(3):
        yield number


with TestClient(app) as client:
    print(list(iter_json_lines(client.get("/numbers"))))
"""


def run(*command: str | Path, cwd: Path = ROOT, timeout: float = 600) -> str:
    result = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-4000:]}"
    return result.stdout


@pytest.mark.slow
def test_the_built_wheel_installs_and_runs_in_a_fresh_environment(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", dist)
    wheel = next(dist.glob("linestream-*.whl"))
    sdist = next(dist.glob("linestream-*.tar.gz"))
    assert "PASSED" in run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    names = zipfile.ZipFile(wheel).namelist()
    assert any(name.endswith("licenses/LICENSE") for name in names)
    assert "linestream/py.typed" in names
    assert any(name.startswith("linestream/openapi/assets/swagger-ui/") for name in names)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel)
    assert run(venv / "bin" / "linestream", "--version").startswith("linestream, version ")
    (tmp_path / "app.py").write_text(APP)
    assert run(python, "app.py", cwd=tmp_path).strip() == "[0, 1, 2]"
    installed = run(python, "-m", "pip", "list", "--format=freeze")
    assert "pytest" not in installed  # only the runtime dependencies
