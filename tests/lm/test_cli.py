"""`prefrl lm ...`: run folders with config, metrics, summary and plots; bad options exit with a clear error."""

from __future__ import annotations

import json

import pytest

from prefrl.cli import main
from prefrl.lm.models import load_pretrained

# A tiny budget on the small task: the point is the run folder, not the result.
SMALL = ["--task-train-prompts", "400", "--task-eval-prompts", "16", "--data-prompts", "60", "--no-progress"]


@pytest.mark.slow
def test_dpo_and_rlhf_write_complete_run_folders(sft_folder, tmp_path) -> None:
    dpo_dir, rlhf_dir = tmp_path / "dpo", tmp_path / "rlhf"
    assert main(["lm", "dpo", "--out", str(dpo_dir), "--model", str(sft_folder), "--dpo-epochs", "1", *SMALL]) == 0
    assert main(["lm", "rlhf", "--out", str(rlhf_dir), "--model", str(sft_folder), "--rm-epochs", "1",
                 "--rlhf-iterations", "2", "--rlhf-target-kl", "1.0", *SMALL]) == 0
    for run in (dpo_dir, rlhf_dir):
        summary = json.loads((run / "summary.json").read_text())
        assert {"reward_sft", "reward_policy", "kl", "pref_accuracy", "wall_time_s"} <= set(summary)
        assert (run / "metrics.csv").read_text().count("\n") >= 2
        assert (run / "training.png").stat().st_size > 0
        load_pretrained(run / "model")
    config = json.loads((rlhf_dir / "config.json").read_text())
    assert config["rlhf"]["target_kl"] == 1.0 and config["model"] == str(sft_folder)
    assert "objective/kl_coef" in (rlhf_dir / "metrics.csv").read_text().splitlines()[0]


@pytest.mark.slow
def test_frontier_writes_points_best_of_n_and_a_plot(sft_folder, tmp_path) -> None:
    out = tmp_path / "frontier"
    args = ["lm", "frontier", "--out", str(out), "--model", str(sft_folder), "--frontier-betas", "0.1,1",
            "--frontier-best-of", "1,4", "--dpo-epochs", "1", "--rm-epochs", "1", "--rlhf-iterations", "1", *SMALL]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert sorted((p["method"], p["beta"]) for p in results["points"]) == [
        ("dpo", 0.1), ("dpo", 1.0), ("rlhf", 0.1), ("rlhf", 1.0)
    ]
    assert [p["n"] for p in results["best_of_n"]] == [1, 4] and results["best_of_n"][0]["kl"] == 0.0
    assert (out / "frontier.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lm", "dpo", "--dpo-beta", "-1"], "beta=-1.0"),
        (["lm", "dpo", "--dpo-loss", "kto"], "use one of cdpo, dpo, ipo"),
        (["lm", "rm", "--data-responses-per-prompt", "1"], "K must be >= 2"),
        (["lm", "dpo", "--model", "/nonexistent/model"], "not a saved Hugging Face model"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(args, message, tmp_path, capsys) -> None:
    assert main([*args, "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_sft_trains_the_embedded_model_into_a_loadable_folder(tmp_path) -> None:
    out = tmp_path / "sft"
    args = ["lm", "sft", "--out", str(out), "--sft-steps", "3", "--model-n-layer", "1", "--model-n-embd", "16",
            "--model-n-head", "2", "--task-eval-prompts", "4", "--no-progress"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {"reward_sft", "loss", "wall_time_s"} <= set(summary)
    assert load_pretrained(out / "model").model.config.n_embd == 16
    assert json.loads((out / "config.json").read_text())["sft"]["steps"] == 3
