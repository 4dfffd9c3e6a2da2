"""What a person as the oracle costs (issues 3 and 7): recording each step, making a clip, a label's round trip.

1. Per env step: PPO-style stepping of n_envs copies through the learned-reward wrapper, with and without the
   RenderStateRecorder that a human oracle installs (the ratio is what a run pays for clips, before rendering):
   physics envs record their simulator state, pixel games (MinAtar, ALE Pong) their own colour frame.
2. Per clip: making the frames (restoring recorded states and rendering them, or enlarging recorded frames) and
   encoding the VP8 WebM, in the clip process, per env; and the bytes a stored segment takes.
3. Per label: GET /api/next then POST /api/answer against the real server and SQLite store (fsync included).

Usage: .venv/bin/python experiments/human_page_costs.py [--steps 20000] [--repeats 3] [--labels 300] [--envs ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import gymnasium as gym
import httpx
import numpy as np
from stable_baselines3.common.env_util import make_vec_env

from prefrl.envs import check_env_id
from prefrl.oracles.human import serve
from prefrl.oracles.human.clips import ClipLibrary, RenderStateRecorder
from prefrl.segments import SegmentCutter
from prefrl.store import ComparisonStore
from prefrl.wrappers import LearnedRewardVecEnv


def preprocessed_pong() -> gym.Env:
    """ALE Pong as Atari agents see it: gymnasium's standard preprocessing (frame skip 4, 84x84 grayscale),
    4 frames stacked; the recorder keeps the emulator's 210x160 colour screen underneath."""
    import ale_py
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    gym.register_envs(ale_py)
    return FrameStackObservation(AtariPreprocessing(gym.make("ALE/Pong-v5", frameskip=1)), 4)


ENVS: dict[str, str | Callable[[], gym.Env]] = {
    "prefrl/FixedCartPole-v1": "prefrl/FixedCartPole-v1",
    "Pendulum-v1": "Pendulum-v1",
    "prefrl/FixedAcrobot-v1": "prefrl/FixedAcrobot-v1",
    "prefrl/FixedMinAtarBreakout-v1": "prefrl/FixedMinAtarBreakout-v1",
    "ALE/Pong-v5+preprocessing": preprocessed_pong,
}


class ZeroReward:
    def predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs))


def step_cost(env_id: str | Callable[[], gym.Env], steps: int, n_envs: int, record: bool) -> tuple[float, list]:
    """Seconds per env step (all envs together / n_envs), and the segments cut along the way."""
    wrapper = RenderStateRecorder if record else None
    venv = LearnedRewardVecEnv(make_vec_env(env_id, n_envs=n_envs, seed=0, wrapper_class=wrapper), ZeroReward())
    cutter = SegmentCutter(n_envs, 25)
    venv.reset()
    venv.action_space.seed(0)
    actions = [np.stack([venv.action_space.sample() for _ in range(n_envs)]) for _ in range(64)]
    segments = []
    started = time.perf_counter()
    for i in range(steps // n_envs):
        venv.step(actions[i % 64])
        if (i + 1) % 32 == 0:  # cut segments once per rollout, as PPO's callback does
            segments += cutter.add(venv.drain_steps())
    elapsed = time.perf_counter() - started
    venv.close()
    return elapsed / steps, segments


def clip_cost(env_id: str, segments: list, pairs: int, folder: Path) -> tuple[float, float]:
    """Seconds to make and encode one pair of clips, after the clip process has started; bytes per stored segment."""
    with ComparisonStore(folder / "store.sqlite") as store, ClipLibrary(folder / "clips", env_id) as clips:
        ids = store.add_queries([(segments[2 * i], segments[2 * i + 1]) for i in range(pairs + 1)], oracle="human", timestep=0)
        clips.wait(store.get(ids[0]), timeout=120)  # warm-up: process start, imports, first frame
        started = time.perf_counter()
        for comparison_id in ids[1:]:
            clips.wait(store.get(comparison_id), timeout=120)
        return (time.perf_counter() - started) / pairs, store.bytes_per_segment()


def round_trip(labels: int, folder: Path) -> list[float]:
    """Milliseconds of next + answer, one person, for ``labels`` queries."""
    from prefrl.types import Segment

    segment = Segment(np.zeros((25, 4), np.float32), np.zeros(25), np.zeros(25))
    with ComparisonStore(folder / "latency.sqlite") as store:
        store.add_queries([(segment, segment)] * labels, oracle="human", timestep=0)
        server = serve(store)
        times = []
        try:
            with httpx.Client(base_url=server.url) as client:
                for _ in range(labels):
                    started = time.perf_counter()
                    query = client.get("/api/next", params={"annotator": "bench"}).json()
                    client.post("/api/answer", json={"id": query["id"], "label": "left", "annotator": "bench"})
                    times.append(1e3 * (time.perf_counter() - started))
        finally:
            server.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per measurement")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=5, help="clip pairs timed per env")
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per setting; the fastest counts")
    parser.add_argument("--envs", nargs="+", choices=list(ENVS), default=list(ENVS), help="envs to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.envs:
            env_id = ENVS[name]
            if isinstance(env_id, str):
                check_env_id(env_id)  # registers the fixed-horizon and MinAtar variants
            # Alternate the two settings and keep each one's fastest run: on a shared machine the minimum is the
            # least disturbed measurement of the same work.
            plain_runs, recorded_runs = [], []
            for _ in range(args.repeats):
                plain_runs.append(step_cost(env_id, args.steps, args.n_envs, record=False)[0])
                seconds, segments = step_cost(env_id, args.steps, args.n_envs, record=True)
                recorded_runs.append(seconds)
            plain, recorded = min(plain_runs), min(recorded_runs)
            folder = Path(tmp) / name.replace("/", "_")
            folder.mkdir()
            pair, stored = clip_cost(name, segments, args.pairs, folder)
            print(
                f"{name:30s} step {1e6 * plain:6.1f} us plain, {1e6 * recorded:6.1f} us recording "
                f"{segments[0].render_states.shape[1:]} {segments[0].render_states.dtype} per step "
                f"(x{recorded / plain:.2f}, +{1e6 * (recorded - plain):.1f} us/step); one pair of 25-step clips "
                f"made+encoded in {pair:.2f} s; {stored / 1e3:.1f} kB per stored segment"
            )
        times = round_trip(args.labels, Path(tmp))
        print(
            f"label round trip (GET /api/next + POST /api/answer, committed): median {statistics.median(times):.2f} ms, "
            f"p95 {np.percentile(times, 95):.2f} ms over {len(times)} labels"
        )


if __name__ == "__main__":
    main()
