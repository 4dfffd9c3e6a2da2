"""What a person as the oracle costs (issue 3): recording states per env step, rendering a clip, a label's round trip.

1. Per env step: PPO-style stepping of n_envs copies through the learned-reward wrapper, with and without the
   RenderStateRecorder that a human oracle installs (the ratio is what a run pays for clips, before rendering).
2. Per clip: restoring the recorded states and encoding the VP8 WebM, in the renderer process, per env.
3. Per label: GET /api/next then POST /api/answer against the real server and SQLite store (fsync included).

Usage: .venv/bin/python experiments/human_page_costs.py [--steps 20000] [--repeats 3] [--labels 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from stable_baselines3.common.env_util import make_vec_env

import prefrl.envs  # noqa: F401  (registers the fixed-horizon variants)
from prefrl.oracles.human import serve
from prefrl.oracles.human.clips import ClipLibrary, RenderStateRecorder
from prefrl.segments import SegmentCutter
from prefrl.store import ComparisonStore
from prefrl.wrappers import LearnedRewardVecEnv

ENVS = ["prefrl/FixedCartPole-v1", "Pendulum-v1", "prefrl/FixedAcrobot-v1"]


class ZeroReward:
    def predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs))


def step_cost(env_id: str, steps: int, n_envs: int, record: bool) -> tuple[float, list]:
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


def clip_cost(env_id: str, segments: list, pairs: int, folder: Path) -> float:
    """Seconds to render and encode one pair of clips, after the renderer process has started."""
    with ComparisonStore(folder / "store.sqlite") as store, ClipLibrary(folder / "clips", env_id) as clips:
        ids = store.add_queries([(segments[2 * i], segments[2 * i + 1]) for i in range(pairs + 1)], oracle="human", timestep=0)
        clips.wait(store.get(ids[0]), timeout=120)  # warm-up: process start, imports, first frame
        started = time.perf_counter()
        for comparison_id in ids[1:]:
            clips.wait(store.get(comparison_id), timeout=120)
        return (time.perf_counter() - started) / pairs


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for env_id in ENVS:
            # Alternate the two settings and keep each one's fastest run: on a shared machine the minimum is the
            # least disturbed measurement of the same work.
            plain_runs, recorded_runs = [], []
            for _ in range(args.repeats):
                plain_runs.append(step_cost(env_id, args.steps, args.n_envs, record=False)[0])
                seconds, segments = step_cost(env_id, args.steps, args.n_envs, record=True)
                recorded_runs.append(seconds)
            plain, recorded = min(plain_runs), min(recorded_runs)
            folder = Path(tmp) / env_id.replace("/", "_")
            folder.mkdir()
            pair = clip_cost(env_id, segments, args.pairs, folder)
            print(
                f"{env_id:26s} step {1e6 * plain:6.1f} us plain, {1e6 * recorded:6.1f} us recording states "
                f"(x{recorded / plain:.2f}, +{1e6 * (recorded - plain):.1f} us/step); one pair of 25-step clips "
                f"rendered+encoded in {pair:.2f} s"
            )
        times = round_trip(args.labels, Path(tmp))
        print(
            f"label round trip (GET /api/next + POST /api/answer, committed): median {statistics.median(times):.2f} ms, "
            f"p95 {np.percentile(times, 95):.2f} ms over {len(times)} labels"
        )


if __name__ == "__main__":
    main()
