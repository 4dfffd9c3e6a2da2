"""``prefrl lm sft|rm|dpo|rlhf|frontier``: the language-model stages from the command line.

Options are generated from the config dataclasses of :mod:`prefrl.lm.config` (and the control side's
:class:`~prefrl.config.OracleConfig`), each under a prefix naming its stage (``--dpo-beta``, ``--oracle-beta``,
``--rlhf-target-kl``), so the help text lives in one place. With nothing but ``--out DIR`` every command runs
on the embedded task, building and caching π_SFT first when it is missing.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import MISSING, fields
from typing import Any

from prefrl.config import OracleConfig, to_dict
from prefrl.lm.config import (
    DPOConfig,
    EvalConfig,
    FrontierConfig,
    ModelConfig,
    PreferenceDataConfig,
    RewardModelConfig,
    RLHFConfig,
    SFTConfig,
    TaskConfig,
)

# Each config's option prefix (--dpo-beta); the key under which config.json records it.
_PREFIXES: dict[type, str] = {
    ModelConfig: "model",
    TaskConfig: "task",
    SFTConfig: "sft",
    PreferenceDataConfig: "data",
    OracleConfig: "oracle",
    RewardModelConfig: "rm",
    DPOConfig: "dpo",
    RLHFConfig: "rlhf",
    EvalConfig: "eval",
    FrontierConfig: "frontier",
}
_SETUP = (TaskConfig, PreferenceDataConfig, OracleConfig)
# Command -> (help, the configs it reads).
_COMMANDS: dict[str, tuple[str, tuple[type, ...]]] = {
    "sft": ("Supervised fine-tuning of the embedded model (π_SFT)", (ModelConfig, TaskConfig, SFTConfig, EvalConfig)),
    "rm": ("A reward model fit to the oracle's preferences", (*_SETUP, RewardModelConfig)),
    "dpo": ("DPO / IPO / cDPO from π_SFT", (*_SETUP, DPOConfig, EvalConfig)),
    "rlhf": (
        "A reward model, then PPO with a KL penalty, from π_SFT",
        (*_SETUP, RewardModelConfig, RLHFConfig, EvalConfig),
    ),
    "frontier": (
        "Reward vs KL of RLHF and DPO at several β, with best-of-N",
        (*_SETUP, RewardModelConfig, DPOConfig, RLHFConfig, EvalConfig, FrontierConfig),
    ),
}


def _parse_value(annotation: str, text: str) -> Any:
    """A command-line string as the field's type: ``inf`` for floats, comma lists for tuples."""
    base = annotation.replace(" | None", "")
    if text.lower() == "none" and "None" in annotation:
        return None
    if base.startswith("tuple["):
        item = base[len("tuple[") :].split(",")[0]
        return tuple(_parse_value(item, part) for part in text.split(","))
    if base == "float":
        return math.inf if text.lower() in ("inf", "infinity") else float(text)
    return {"int": int, "str": str}[base](text)


def add_lm_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``lm`` and its sub-commands to the ``prefrl`` sub-parsers; returns the ``lm`` parser."""
    lm = commands.add_parser(
        "lm", help="Reward models, RLHF and DPO for language models", description=__doc__.split("\n\n")[0]
    )
    stages = lm.add_subparsers(dest="lm_command", required=True)
    for name, (help_text, config_classes) in _COMMANDS.items():
        stage = stages.add_parser(name, help=help_text, description=help_text)
        stage.add_argument("--out", required=True, help="Run folder (created; files in it are replaced).")
        stage.add_argument("--no-progress", action="store_true", help="No progress bars (e.g. in CI logs).")
        if name != "sft":
            stage.add_argument("--model", default=None, help="Local Hugging Face model folder used as π_SFT; "
                               "default: the embedded model, trained once and cached.")
            stage.add_argument("--cache", default=None, help="Cache folder of the embedded π_SFT "
                               "(default: runs/.cache/lm-sft).")
            stage.add_argument("--preferences", default=None, help="JSONL of prompt/chosen/rejected records to "
                               "use instead of sampling and labelling new ones.")
        for config_cls in config_classes:
            _add_options(stage, config_cls, _PREFIXES[config_cls])
    return lm


def _add_options(parser: argparse.ArgumentParser, config_cls: type, prefix: str) -> None:
    group = parser.add_argument_group(config_cls.__name__, (config_cls.__doc__ or "").strip().splitlines()[0])
    for f in fields(config_cls):
        default = f.default if f.default is not MISSING else None
        group.add_argument(
            f"--{prefix}-{f.name.replace('_', '-')}",
            dest=f"{prefix}__{f.name}",
            metavar=str(f.type).replace(" | None", "").split("[")[0].upper(),
            type=lambda text, annotation=str(f.type): _parse_value(annotation, text),
            default=None,
            help=f"{f.metadata.get('help', '')} (default: {default!r})",
        )


def _configs(args: argparse.Namespace, classes: tuple[type, ...]) -> dict[type, Any]:
    """Each config built from the options given (``ValueError`` from ``__post_init__`` on bad values)."""
    built = {}
    for config_cls in classes:
        prefix = _PREFIXES[config_cls] + "__"
        given = {key[len(prefix) :]: value for key, value in vars(args).items() if key.startswith(prefix)}
        built[config_cls] = config_cls(**{key: value for key, value in given.items() if value is not None})
    return built


def run_lm(args: argparse.Namespace) -> int:
    """Run the ``lm`` sub-command in ``args``; prints its summary as JSON and returns the exit code."""
    try:
        from prefrl.lm import frontier, pipeline
    except ImportError as error:
        raise ValueError(
            f"prefrl lm needs the 'lm' extra ({error}); install it with pip install 'prefrl[lm]'."
        ) from None

    command = args.lm_command
    configs = _configs(args, _COMMANDS[command][1])
    progress = not args.no_progress
    recorded: dict[str, Any] = {_PREFIXES[cls]: to_dict(config) for cls, config in configs.items()}
    if command == "sft":
        summary = pipeline.run_sft(
            args.out,
            configs[ModelConfig],
            configs[TaskConfig],
            configs[SFTConfig],
            configs[EvalConfig],
            configs=recorded,
            progress=progress,
        )
        print(json.dumps(summary, indent=2))
        return 0
    recorded.update(model=args.model or "embedded", preferences=args.preferences)
    setup = pipeline.prepare(
        task=configs[TaskConfig],
        data=configs[PreferenceDataConfig],
        oracle=configs[OracleConfig],
        model=args.model,
        cache=args.cache or pipeline.DEFAULT_CACHE,
        preferences=args.preferences,
        progress=progress,
    )
    common: dict[str, Any] = {"configs": recorded, "progress": progress}
    if command == "rm":
        summary = pipeline.run_reward_model(args.out, setup, configs[RewardModelConfig], **common)[1]
    elif command == "dpo":
        summary = pipeline.run_dpo(args.out, setup, configs[DPOConfig], configs[EvalConfig], **common)
    elif command == "rlhf":
        summary = pipeline.run_rlhf(
            args.out,
            setup,
            configs[RLHFConfig],
            configs[EvalConfig],
            reward_config=configs[RewardModelConfig],
            **common,
        )
    else:
        summary = frontier.run_frontier(
            args.out,
            setup,
            configs[FrontierConfig],
            dpo=configs[DPOConfig],
            rlhf=configs[RLHFConfig],
            reward=configs[RewardModelConfig],
            evaluation=configs[EvalConfig],
            **common,
        )["summary"]
    print(json.dumps(summary, indent=2))
    return 0
