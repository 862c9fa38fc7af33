"""The notebooks: executed top to bottom by nbmake (`pytest --nbmake notebooks/`), offline, and
committed with their outputs stripped."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_two_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "add_a_task.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, \
                f"{path.name}: strip outputs before committing"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """One runs folder for both notebooks: the first trains the small base, the second
    reuses it, as a reader running both would."""
    return tmp_path_factory.mktemp("notebook_runs")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path: Path, runs: Path):
    """nbmake runs each cell in a fresh kernel; any error or failed assert fails the test.
    Offline (HF_HUB_OFFLINE), with no model given, so it trains its own small base."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "DECAQA_NOTEBOOK_RUNS": str(runs)}
    env.pop("DECAQA_MODEL", None)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--nbmake", "--nbmake-timeout=900", str(path)],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
