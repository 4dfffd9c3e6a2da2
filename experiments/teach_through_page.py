"""Teach an agent through the labelling page, end to end: `PreferenceRL` with the human oracle, and a "person" who
watches the clips in a real headless chromium and answers with the keyboard, as issue 3's done-when asks.

The person is scripted: for the pair on screen (read from the page's video URLs) it looks up which clip kept the
pole up longer and presses ← or → (↑ for a tie), so it judges exactly what a careful person would judge from the
clips, never seeing the reward. Everything between them is the real thing: the trainer asks, the renderer makes
the WebM clips, the server leases and commits, the browser plays both clips to readyState ≥ 2 before each key.

Usage: .venv/bin/python experiments/teach_through_page.py [--env CartPole-v1] [--labels 100] [--seed 0] [--out DIR]
Prints the final true return and how long a new pair takes to become playable in the browser.
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from pathlib import Path

from prefrl.oracles import oracle_from_config
from prefrl.store import ComparisonStore
from prefrl.trainer import PreferenceRL, train_config

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
BOTH_PLAYABLE = "() => [...document.querySelectorAll('#pair video')].every(v => !v.hidden && v.readyState >= 2)"


def person(oracle, store_path: Path, stop: threading.Event, log: list[float]) -> None:
    """Watch the page; answer every pair once both clips play."""
    from playwright.sync_api import TimeoutError as PageTimeout
    from playwright.sync_api import sync_playwright

    while oracle.url is None and not stop.is_set():
        time.sleep(0.1)
    with sync_playwright() as playwright, ComparisonStore(store_path, create=False) as store:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(oracle.url + ("&" if "?" in oracle.url else "?") + "annotator=scripted-person")
        answered = ""
        while not stop.is_set():
            try:  # a new pair on screen (not the one just answered)
                page.wait_for_function(
                    f"() => /\\/api\\/clip\\/\\d+\\/left/.test(document.querySelector('#video-left').src) && "
                    f"!document.querySelector('#video-left').src.includes('/api/clip/{answered}/')",
                    timeout=1000,
                )
            except PageTimeout:
                continue
            appeared = time.perf_counter()
            page.wait_for_function(BOTH_PLAYABLE, timeout=600_000)
            source = page.get_attribute("#video-left", "src") or ""
            found = re.search(r"/api/clip/(\d+)/left", source)
            if found is None:
                continue
            comparison = store.get(int(found.group(1)))
            left, right = comparison.left.true_return, comparison.right.true_return
            log.append(time.perf_counter() - appeared)
            page.keyboard.press("ArrowLeft" if left > right else "ArrowRight" if right > left else "ArrowUp")
            answered = found.group(1)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--timesteps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or f"experiments/results/teach-through-page-{args.env}-s{args.seed}-{time.strftime('%H%M%S')}"
    overrides = {"timesteps": args.timesteps} if args.timesteps else {}
    config = train_config(args.env, oracle="human", port=0, labels=args.labels, seed=args.seed, out=out, **overrides)
    oracle = oracle_from_config("human", config)
    stop, log = threading.Event(), []
    watcher = threading.Thread(target=person, args=(oracle, Path(out) / "comparisons.sqlite", stop, log), daemon=True)
    watcher.start()
    try:
        summary = PreferenceRL(config, oracle=oracle, progress=False).learn()
    finally:
        stop.set()
        watcher.join(30)
    load = sorted(log)
    print(
        f"{args.env} seed {args.seed}: final_true_return={summary['final_true_return']:.1f} "
        f"labels_used={summary['labels_used']}/{summary['labels_asked']} asked, "
        f"wall_time_s={summary['wall_time_s']:.0f}; a new pair on the page until both clips play: "
        f"median {load[len(load) // 2]:.2f} s, max {load[-1]:.2f} s over {len(load)} labels"
    )


if __name__ == "__main__":
    main()
