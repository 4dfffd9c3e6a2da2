"""Sweeps: definitions expand into named cells; cells run in a process pool or on Ray with the same
results; complete cells are skipped on rerun; bad definitions get clear errors."""

from __future__ import annotations

import math
import os

import pytest

from prefrl.cli import main as cli_main
from prefrl.executor import cell_dir, run_sweep
from prefrl.results import aggregate
from prefrl.sweep import Cell, available_sweeps, load_sweep, parse_sweep, select_cells

TINY = {
    "envs": ["CartPole-v1"],
    "seeds": [0],
    "baseline": True,
    "options": {"timesteps": 1_024, "eval_episodes": 1, "final_eval_episodes": 2},
    "grid": [{"labels": [6], "sync": [True]}],  # deterministic: the same table on Ray
}


def test_grids_expand_into_deduplicated_named_cells():
    sweep = parse_sweep(
        {"envs": ["CartPole-v1", "Pendulum-v1"], "seeds": [0, 1], "baseline": True,
         "grid": [{"labels": [25, 50], "mistake_rate": [0.0, 0.1]}, {"labels": 50, "selector": ["uniform", "disagreement"]}]},
        "demo",
    )  # fmt: skip
    # Per env and seed: 1 baseline + 2x2 from the first grid + 1 new (uniform, 50) from the second.
    assert len(sweep.cells) == 2 * 2 * (1 + 4 + 1)
    names = [cell.name for cell in sweep.cells]
    assert len(set(names)) == len(names)
    assert "CartPole-v1-baseline-s0" in names
    assert "Pendulum-v1-L50-eps0.1-betainf-disagreement-async-s1" in names
    assert "CartPole-v1-L50-eps0-betainf-uniform-async-s0" in names


def test_cell_round_trips_through_json_with_infinite_beta():
    cell = Cell(env_id="Acrobot-v1", seed=2, labels=100, beta=math.inf, sync=True)
    assert Cell.from_dict(cell.to_dict()) == cell
    assert cell.to_dict()["beta"] == "inf"


def test_shipped_definitions_parse():
    assert {"smoke", "classic_control", "mujoco"} <= set(available_sweeps())
    for name in available_sweeps():
        assert load_sweep(name).cells
    assert [cell.is_baseline for cell in load_sweep("smoke").cells] == [True, False]


def test_unknown_experiment_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"experiment 'smok' is unknown; available: .*smoke"):
        load_sweep("smok")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"envs": "CartPole-v1"}, r"envs='CartPole-v1' must be a non-empty list of strings"),
        ({"seeds": []}, r"seeds=\[\] must be a non-empty list of integers"),
        ({"grid": [{"labels": [0]}]}, r"labels value 0 must be an integer >= 1"),
        ({"grid": [{"mistake_rate": [0.1]}]}, r"a grid needs a labels list"),
        ({"grid": [{"labels": [5], "lables": [5]}]}, r"unknown key\(s\) 'lables'"),
        ({"budget": 3}, r"unknown key\(s\) 'budget'"),
        ({"grid": [], "baseline": False}, r"no cells"),
        ({"grid": [{"labels": [5], "sync": ["yes"]}]}, r"sync value 'yes' must be true or false"),
    ],
)
def test_malformed_definitions_are_clear_errors(change, message):
    with pytest.raises(ValueError, match=message):
        parse_sweep({**TINY, **change}, "bad")


def test_invalid_toml_and_bad_cell_settings_fail_before_any_run(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("envs = [\n")
    with pytest.raises(ValueError, match="is not valid TOML"):
        load_sweep(broken)
    sweep = parse_sweep({**TINY, "grid": [{"labels": [5], "selector": "best"}]}, "bad")
    with pytest.raises(ValueError, match=r"cell CartPole-v1-L5-.*selector='best' is unknown"):
        run_sweep(sweep, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=r"cell CartPole-v1-baseline-s0: .*unknown option 'timestep'"):
        run_sweep(parse_sweep({**TINY, "options": {"timestep": 5}}, "bad"), tmp_path / "out")


def test_cli_experiment_errors(capsys):
    assert cli_main(["experiment", "nope", "--out", "unused"]) == 2
    assert "available:" in capsys.readouterr().err
    assert cli_main(["experiment", "smoke", "--workers", "-1"]) == 2
    assert "workers=-1" in capsys.readouterr().err


def table(root):
    """The aggregated table as written (NaN cells compare equal as text, unlike floats)."""
    aggregate(root)
    return (root / "results.csv").read_text()


@pytest.mark.slow
def test_sweep_runs_locally_and_on_ray_with_the_same_table_and_skips_complete_cells(tmp_path):
    sweep = parse_sweep(TINY, "tiny")
    started: list[list[Cell]] = []
    run_sweep(sweep, tmp_path / "local", workers=2, on_start=started.append)
    local = table(tmp_path / "local")
    assert [line.split(",")[1] for line in local.splitlines()[1:]] == ["baseline", "L6-eps0-betainf-disagreement-sync"]
    summaries = [cell_dir(tmp_path / "local", cell) / "summary.json" for cell in sweep.cells]
    stamps = [os.stat(path).st_mtime_ns for path in summaries]

    counts = run_sweep(sweep, tmp_path / "local", workers=2, on_start=started.append)
    assert counts["ran"] == 0 and counts["skipped"] == 2 and started[-1] == []
    assert [os.stat(path).st_mtime_ns for path in summaries] == stamps  # nothing was rerun

    # A cell killed before summary.json is rerun from scratch; the complete one is left alone.
    summaries[1].unlink()
    run_sweep(sweep, tmp_path / "local", workers=1, on_start=started.append)
    assert started[-1] == [sweep.cells[1]]
    assert os.stat(summaries[0]).st_mtime_ns == stamps[0]
    assert table(tmp_path / "local") == local

    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run_sweep(sweep, tmp_path / "ray", ray_address="local")
    finally:
        ray.shutdown()
    assert table(tmp_path / "ray") == local


def test_a_changed_definition_does_not_reuse_old_cells(tmp_path):
    sweep = parse_sweep(TINY, "tiny")
    folder = cell_dir(tmp_path, sweep.cells[0])
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text("{}")
    (folder / "cell.json").write_text('{"cell": {}, "options": {"timesteps": 5}}')
    with pytest.raises(ValueError, match="pass a fresh --out"):
        run_sweep(sweep, tmp_path)


def test_ray_missing_names_the_extra(monkeypatch):
    import builtins

    from prefrl import executor

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r"pip install prefrl\[ray\]"):
        executor.require_ray()



def test_select_cells_runs_a_slice_by_name():
    sweep = load_sweep("classic_control")
    main = select_cells(sweep, ["*baseline*", "*-eps0-betainf-disagreement-async-*"])
    assert len(main.cells) == 3 * 3 * (1 + 5)  # envs x seeds x (baseline + 5 budgets)
    assert {c.env_id for c in select_cells(sweep, ["CartPole-v1-*"]).cells} == {"CartPole-v1"}
    with pytest.raises(ValueError, match=r"matches none of the 126 cells"):
        select_cells(sweep, ["Cartpole*"])
