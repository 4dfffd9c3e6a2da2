"""The reward model: the control side's Bradley–Terry loss, a score on the last token, held-out accuracy."""

from __future__ import annotations

import numpy as np
import torch

import prefrl.lm.reward_model as lm_reward_model
import prefrl.reward.trainer as control_trainer
from prefrl.lm.batching import SequenceBatch, encode
from prefrl.lm.config import RewardModelConfig
from prefrl.lm.data import PreferenceDataset, expand_ranking
from prefrl.lm.reward_model import RewardModel, pairwise_accuracy, train_reward_model
from prefrl.reward.losses import bradley_terry_loss


def test_bradley_terry_loss_is_the_control_sides_function() -> None:
    assert lm_reward_model.bradley_terry_loss is bradley_terry_loss
    assert control_trainer.bradley_terry_loss is bradley_terry_loss


def test_score_reads_the_last_response_token_and_ignores_padding(tiny_lm) -> None:
    rm = RewardModel(tiny_lm)
    batch = encode(tiny_lm.tokenizer, ["praise the movie", "complain about the old food"], ["good", "bad sad"], 24)
    scores = rm(batch)
    alone = rm(batch.select([0]))  # row 0 without the other row's padding columns
    torch.testing.assert_close(scores[:1], alone)
    changed = batch.input_ids.clone()
    changed[0, -1] = 5  # a padding token of row 0 (its response is 2 tokens wide, the block 3)
    torch.testing.assert_close(rm(SequenceBatch(changed, batch.attention_mask, batch.prompt_width))[0], scores[0])


def test_weights_are_copied_not_shared(tiny_lm) -> None:
    rm = RewardModel(tiny_lm)
    with torch.no_grad():
        next(rm.backbone.parameters()).add_(1.0)
    assert not torch.equal(next(rm.backbone.parameters()), next(tiny_lm.model.base_model.parameters()))


def test_training_learns_the_ranking_and_reports_held_out_accuracy(tiny_lm) -> None:
    rng = np.random.default_rng(0)
    positive, negative = ["good", "great", "nice", "happy"], ["bad", "sad", "awful", "poor"]
    records = []
    for group in range(60):
        words = rng.permutation(positive)[:2].tolist(), rng.permutation(negative)[:2].tolist()
        ranked = [" ".join(words[0]), f"{words[0][0]} {words[1][0]}", " ".join(words[1])]
        records += expand_ranking(f"praise the day {group % 7}", ranked, group)
    data = PreferenceDataset(records)
    train, held = data.split(0.25, np.random.default_rng(1))
    rm = RewardModel(tiny_lm)
    before = pairwise_accuracy(rm, held)
    metrics = train_reward_model(rm, train, held, RewardModelConfig(epochs=6, batch_size=8, learning_rate=3e-3))
    assert metrics["eval/pref_accuracy"] >= 0.9 > before
    assert {"rm/loss", "rm/accuracy", "rm/mean_margin"} <= set(metrics)
