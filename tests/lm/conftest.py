"""Fixtures for the language-model tests: tiny models built in-process, never downloaded."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the tests must pass with no network
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

pytest.importorskip("transformers")

from prefrl.lm.config import ModelConfig, SFTConfig, TaskConfig  # noqa: E402
from prefrl.lm.models import LanguageModel, build_default  # noqa: E402
from prefrl.lm.sft import train_default  # noqa: E402

# Small enough that an SFT run takes a few seconds on one core, large enough to learn the task.
SMALL_MODEL = ModelConfig(n_layer=2, n_head=2, n_embd=32, n_positions=24)
SMALL_TASK = TaskConfig(train_prompts=400, eval_prompts=64)


@pytest.fixture
def tiny_lm() -> LanguageModel:
    """An untrained one-block model: enough for shapes, masking and losses."""
    return build_default(ModelConfig(n_layer=1, n_head=2, n_embd=16, n_positions=24), seed=0)


@pytest.fixture(scope="session")
def sft_folder(tmp_path_factory: pytest.TempPathFactory):
    """A quickly trained π_SFT of the embedded task, saved once per test session."""
    lm = train_default(SMALL_MODEL, SMALL_TASK, SFTConfig(steps=400, batch_size=64, learning_rate=3e-3))
    return lm.save(tmp_path_factory.mktemp("sft"))
