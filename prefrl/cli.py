"""The `prefrl` command: `train`, `baseline`, `plot`, `label` and `experiment`.

Options are generated from the config dataclasses (their field names and help texts), so the CLI and the
Python API cannot drift apart. An option left out takes the env preset's value, then the dataclass default.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import threading
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Sequence

from prefrl.config import HumanConfig, OracleConfig, QueryConfig, RewardConfig, RunConfig
from prefrl.lm.cli import add_lm_parser, run_lm
from prefrl.stopping import RunStopped, handling_stop_signals, stop_on_signals
from prefrl.threads import use_one_thread

# Options spelled by hand (positional meaning or a friendlier name) rather than generated.
_HAND_WRITTEN = {"env_id", "algo_kwargs"}
# The reward net's options share names with PPO's in spirit (learning_rate, batch_size): prefix them.
_PREFIXES = {RewardConfig: "reward-", HumanConfig: "label-"}
_PARSERS = {"int": int, "float": float, "str": str}


def _value_type(annotation: str) -> Any:
    """argparse type for a field's (string) annotation."""
    base = annotation.replace(" | None", "")
    if base.startswith("tuple[int"):
        return lambda text: tuple(int(part) for part in text.split(","))
    if base == "float":
        return lambda text: math.inf if text.lower() in ("inf", "infinity") else float(text)
    return _PARSERS[base]


def _add_config_options(
    parser: argparse.ArgumentParser, config_cls: type, only: Sequence[str] | None = None, preset: bool = True
) -> None:
    group = parser.add_argument_group(config_cls.__name__, (config_cls.__doc__ or "").strip().splitlines()[0])
    prefix = _PREFIXES.get(config_cls, "")
    for f in fields(config_cls):
        if f.name in _HAND_WRITTEN or not f.metadata.get("help") or f.metadata.get("cli") is False:
            continue
        if only is not None and f.name not in only:
            continue
        flag = "--" + prefix + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f"{f.metadata['help']} (default: {'preset, else ' if preset else ''}{default!r})"
        if str(f.type) == "bool":
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=_value_type(str(f.type)), default=None, help=help_text)


def _overrides(args: argparse.Namespace, config_classes: Sequence[type]) -> dict[str, Any]:
    names = {f.name for cls in config_classes for f in fields(cls)}
    names -= _HAND_WRITTEN
    return {name: value for name, value in vars(args).items() if name in names and value is not None}


def build_parser() -> argparse.ArgumentParser:
    from prefrl.oracles import ORACLES
    from prefrl.presets import available_presets
    from prefrl.selection import SELECTORS

    parser = argparse.ArgumentParser(prog="prefrl", description="Reinforcement learning from preferences.")
    commands = parser.add_subparsers(dest="command", required=True)

    envs = ", ".join(available_presets())
    train = commands.add_parser(
        "train",
        help="PPO on a reward learned from comparisons of clips",
        description=f"PPO on a reward net fit to an oracle's comparisons. Presets: {envs}. "
        f"Oracles: {', '.join(sorted(ORACLES))}. Selectors: {', '.join(sorted(SELECTORS))}.",
    )
    train.add_argument("--env", dest="env_id", default="CartPole-v1", help="Gymnasium id with a preset in envs/.")
    train.add_argument("--preset", default=None, help="A custom preset TOML file instead of envs/<env>.toml.")
    train.add_argument("--resume", default=None, metavar="DIR", help="Continue the run in DIR from its last checkpoint.")
    train.add_argument("--no-progress", action="store_true", help="No progress bar (e.g. in CI logs).")
    for config_cls in (RunConfig, QueryConfig, OracleConfig, RewardConfig, HumanConfig):
        _add_config_options(train, config_cls)

    label = commands.add_parser(
        "label",
        help="Serve the pending queries of a run folder on the labelling page",
        description="Serve a run's pending queries (a running or a stopped one) on the labelling page until "
        "Ctrl-C; answers go into its store. Continue a stopped run afterwards with `prefrl train --resume DIR`.",
    )
    label.add_argument("--run", required=True, metavar="DIR", help="The run folder (it holds comparisons.sqlite).")
    _add_config_options(label, HumanConfig, only=("host", "port", "token", "lease_seconds"))

    baseline = commands.add_parser(
        "baseline", help="PPO (or A2C) on the true reward, same preset", description="PPO (or A2C) on the env's true reward."
    )
    baseline.add_argument("--env", dest="env_id", default="CartPole-v1", help="Gymnasium id with a preset in envs/.")
    baseline.add_argument("--preset", default=None, help="A custom preset TOML file instead of envs/<env>.toml.")
    baseline.add_argument("--no-progress", action="store_true", help="No progress bar.")
    baseline.add_argument(
        "--in-training-env",
        action="store_true",
        help="Train in the env a preference run trains in (the preset's fixed-horizon variant and its [train_env] "
        "table), on that env's own reward; scored in the original env as always. What the variant costs RL itself.",
    )
    _add_config_options(
        baseline,
        RunConfig,
        only=(
            "timesteps", "seed", "n_envs", "algo", "device", "eval_every", "eval_episodes", "final_eval_episodes",
            "normalize_observations", "out",
        ),
    )

    plot = commands.add_parser(
        "plot",
        help="Compare the learning curves of run folders in one figure, or draw a sweep's figures",
        description="`prefrl plot RUN... --out F.png`: learning curves of run folders. `prefrl plot --sweep DIR`: "
        "every figure of an experiment folder (PNG and SVG). `prefrl plot RUN... --scatter --out STEM`: learned vs "
        "true reward per step.",
    )
    plot.add_argument("runs", nargs="*", help="Run folders (each holds metrics.csv).")
    plot.add_argument("--out", default=None, help="File to write (runs), or folder (--sweep; default DIR/figures).")
    plot.add_argument("--title", default=None)
    plot.add_argument("--sweep", default=None, metavar="DIR", help="An experiment folder (`prefrl experiment --out`).")
    plot.add_argument("--scatter", action="store_true", help="Learned vs true reward per step of the runs.")

    from prefrl.experiment import ExperimentConfig
    from prefrl.sweep import available_sweeps

    experiment = commands.add_parser(
        "experiment",
        help="Run a sweep (experiments/sweeps/NAME.toml), skipping finished cells; then table and figures",
        description=f"Experiments: {', '.join(available_sweeps())}, or the path of a .toml definition.",
    )
    experiment.add_argument("name", help="Experiment name, or a .toml definition path.")
    _add_config_options(experiment, ExperimentConfig, preset=False)
    add_lm_parser(commands)
    return parser


def _train(args: argparse.Namespace) -> dict[str, Any]:
    from prefrl.trainer import PreferenceRL, train_config

    progress = not args.no_progress
    overrides = _overrides(args, (RunConfig, QueryConfig, OracleConfig, RewardConfig, HumanConfig))
    if args.resume:
        given = [f"--{name.replace('_', '-')}" for name in overrides] + (["--preset"] if args.preset else [])
        if given:
            raise ValueError(
                f"--resume continues {args.resume} with the settings it started with (its config.json), so "
                f"{', '.join(given)} would be ignored; drop them, or start a new run in another --out folder."
            )
        run = PreferenceRL.resume(args.resume, progress=progress)
    else:
        run = PreferenceRL(train_config(args.env_id, args.preset, **overrides), progress=progress)
    with stop_on_signals(run.stop):
        return run.learn()


def _baseline(args: argparse.Namespace) -> dict[str, Any]:
    from prefrl.baseline import run_baseline
    from prefrl.trainer import train_config

    config = train_config(args.env_id, args.preset, **_overrides(args, (RunConfig,)))
    stop = threading.Event()
    with stop_on_signals(stop):
        return run_baseline(config.run, progress=not args.no_progress, stop=stop, in_training_env=args.in_training_env)


def _plot(args: argparse.Namespace) -> int:
    from prefrl import plotting

    if args.sweep:
        paths = plotting.plot_sweep(args.sweep, args.out)
    elif not args.runs or not args.out:
        raise ValueError("give run folders and --out FILE, or --sweep DIR (an experiment folder).")
    elif args.scatter:
        paths = plotting.reward_scatter(args.runs, Path(args.out).with_suffix(""))
    else:
        paths = [plotting.plot_runs(args.runs, args.out, args.title)]
    print("\n".join(map(str, paths)))
    return 0


def _experiment(args: argparse.Namespace) -> int:
    from prefrl.experiment import ExperimentConfig, run_experiment

    try:
        outcome = run_experiment(args.name, ExperimentConfig(**_overrides(args, (ExperimentConfig,))))
    except ImportError as error:  # Ray asked for but not installed
        raise ValueError(str(error)) from None
    print((outcome["root"] / "results.md").read_text())
    print(f"cells run={outcome['ran']} skipped={outcome['skipped']} wall_time_s={outcome['wall_time_s']:.1f} "
          f"folder={outcome['root']}")
    return 0


def _stop_on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _label(args: argparse.Namespace) -> int:
    import time

    from prefrl.oracles.human import HumanOracle
    from prefrl.oracles.human.oracle import session_for_run

    session = session_for_run(args.run)
    oracle = HumanOracle(HumanConfig(**_overrides(args, (HumanConfig,))))
    # Ctrl-C and `kill` both stop the page at once: every answer is in the store as soon as it is given.
    with handling_stop_signals(_stop_on_signal):
        try:
            oracle.open(session)
            print(f"Labelling page: {oracle.url}  (Ctrl-C to stop; answers are saved as they are given)", flush=True)
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            counts = session.store.counts()
            print(f"Stopped: {counts['answered']} answered, {counts['pending']} pending in {session.store.path}.")
            return 0
        finally:
            oracle.close()
            session.store.close()


def main(argv: Sequence[str] | None = None) -> int:
    # Small nets on few cores: one thread per library is faster and leaves a core to the envs (DESIGN.md).
    use_one_thread()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "lm":
            return run_lm(args)
        if args.command == "plot":
            return _plot(args)
        if args.command == "experiment":
            return _experiment(args)
        if args.command == "label":
            return _label(args)
        summary = _train(args) if args.command == "train" else _baseline(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"prefrl {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RunStopped as stopped:
        going_on = (
            f"its checkpoint and labels are there; go on with: prefrl train --resume {stopped.run_path}"
            if stopped.resumable
            else "its learning curve so far is in metrics.csv there"
        )
        print(f"prefrl {args.command}: stopped at {stopped.timesteps} steps in {stopped.run_path}; {going_on}",
              file=sys.stderr)
        return 130  # what a shell reports for a program ended by Ctrl-C
    print(
        f"final_true_return={summary['final_true_return']:.2f} "
        f"labels_used={summary['labels_used']} timesteps={summary['timesteps']} "
        f"wall_time_s={summary['wall_time_s']:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
