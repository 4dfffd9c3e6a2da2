"""Models and tokenizers: any Hugging Face causal LM from a local folder, or the embedded tiny GPT-2.

Nothing here downloads: :func:`load_pretrained` reads a folder written by ``save_pretrained`` with
``local_files_only=True``, and :func:`build_default` makes a model from :class:`~prefrl.lm.config.ModelConfig`
and a word-level tokenizer over :func:`prefrl.lm.task.vocabulary`, saved in the Hugging Face format so that
``AutoTokenizer.from_pretrained(folder)`` reads it back like any other.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerBase
from transformers import PreTrainedTokenizerFast
from transformers.utils import logging as hf_logging

from prefrl.lm.config import ModelConfig
from prefrl.lm.task import EOS, PAD, UNK, vocabulary

logger = logging.getLogger(__name__)

# Our own progress bars speak for the run; the library's per-load bars would only interleave with them.
hf_logging.disable_progress_bar()


@dataclass
class LanguageModel:
    """A causal LM and its tokenizer, always in eval mode (no dropout: PPO's first ratio is exactly 1)."""

    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase

    def __post_init__(self) -> None:
        if self.tokenizer.pad_token_id is None:
            if self.tokenizer.eos_token_id is None:
                raise ValueError(
                    "tokenizer has neither a pad nor an eos token; set tokenizer.pad_token (e.g. to its eos token)."
                )
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.tokenizer.eos_token_id is None:
            raise ValueError("tokenizer has no eos token; responses must end with one. Set tokenizer.eos_token.")
        self.model.eval()

    @property
    def context_length(self) -> int:
        """Most tokens the model attends to (prompt + response)."""
        config = self.model.config
        return int(getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings"))

    def save(self, folder: str | Path) -> Path:
        """Write model and tokenizer with ``save_pretrained``; :func:`load_pretrained` reads them back."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return folder

    def copy(self) -> "LanguageModel":
        """An independent copy of the weights, e.g. the frozen reference (the tokenizer is shared: never changed)."""
        return LanguageModel(copy.deepcopy(self.model), self.tokenizer)


def default_tokenizer() -> PreTrainedTokenizerFast:
    """Word-level tokenizer of the embedded language: one token per whitespace-separated word."""
    vocab = {word: index for index, word in enumerate(vocabulary())}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=PAD, eos_token=EOS, unk_token=UNK)


def build_default(config: ModelConfig = ModelConfig(), seed: int = 0) -> LanguageModel:
    """A freshly initialized tiny GPT-2 with the embedded tokenizer; dropout is 0 by construction."""
    tokenizer = default_tokenizer()
    gpt2 = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        activation_function="gelu_pytorch_tanh",  # GPT-2's GELU as one fused op, not five Python-level ones
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(gpt2)
    return LanguageModel(model, tokenizer)


def load_pretrained(folder: str | Path) -> LanguageModel:
    """A causal LM and tokenizer from a local folder (``save_pretrained`` output); never downloads."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"model={str(folder)!r} is not a saved Hugging Face model (no config.json there); pass a folder "
            "written by save_pretrained, or leave the model out to use the embedded default."
        )
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    logger.info("loaded %s (%d parameters) from %s", type(model).__name__, model.num_parameters(), folder)
    return LanguageModel(model, tokenizer)
