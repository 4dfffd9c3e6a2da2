"""The tutorial notebook runs end to end (its code cells, in order, with a small budget)."""

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "tutorial.ipynb"


@pytest.mark.slow
def test_tutorial_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFRL_TUTORIAL_TIMESTEPS", "4000")
    monkeypatch.setenv("PREFRL_TUTORIAL_OUT", str(tmp_path))
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    namespace: dict = {}
    for number, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}[{number}]", "exec"), namespace)
    assert namespace["summary"]["labels_used"] == 60
    assert (tmp_path / "cartpole" / "learning_curve.png").is_file()
    assert (tmp_path / "upright" / "summary.json").is_file()
    assert (tmp_path / "learning_curves.png").is_file()
    assert {p.name for p in tmp_path.glob("reward_scatter.*")} == {"reward_scatter.png", "reward_scatter.svg"}
