"""Throughput and memory of the text analyser on one core.

    python benchmarks/text_speed.py [--n 3000]

Analyses ``--n`` texts (the labelled and unseen texts repeated) with ``analyze_many`` in one
process pinned to one CPU, after a warm-up, and prints texts/s, with the cost of the Kiwi
tokenisation alone as the in-process baseline, and the process's peak RSS (psutil) and the
Python-level peak allocation during the run (tracemalloc).
Goals (issue #4): ≥ 500 texts/s per core, analyser memory < 600 MB.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import psutil

from cxloop.text.pipeline import Analyzer
from cxloop.text.tokens import korean_sentences
from cxloop.text.training.dataset import LABELLED_PATH, UNSEEN_PATH, load_labelled


def main() -> None:
    parser = argparse.ArgumentParser(description="text analytics speed")
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    proc = psutil.Process()
    rss_start = proc.memory_info().rss

    rows = load_labelled(LABELLED_PATH) + (
        load_labelled(UNSEEN_PATH) if UNSEEN_PATH.exists() else []
    )
    texts = [rows[i % len(rows)].text for i in range(args.n)]
    ko_share = sum(rows[i % len(rows)].lang == "ko" for i in range(args.n)) / args.n

    t0 = time.perf_counter()
    analyzer = Analyzer(use_transformers=False)
    analyzer.analyze_many(texts[:50])  # loads Kiwi and the model
    load_s = time.perf_counter() - t0
    rss_loaded = proc.memory_info().rss

    t0 = time.perf_counter()
    for start in range(0, len(texts), 256):
        analyzer.analyze_many(texts[start : start + 256])
    elapsed = time.perf_counter() - t0
    # tracemalloc slows Python down several times over, so it gets a pass of its own
    tracemalloc.start()
    analyzer.analyze_many(texts[:256])
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = max(proc.memory_info().rss, getattr(proc.memory_info(), "peak_wset", 0))
    try:
        import resource

        rss_peak = max(rss_peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    except ImportError:
        pass

    ko_texts = [
        t
        for t, r in zip(texts, (rows[i % len(rows)] for i in range(args.n)), strict=True)
        if r.lang == "ko"
    ]
    t0 = time.perf_counter()
    for text in ko_texts:
        korean_sentences(text)
    kiwi_rate = len(ko_texts) / (time.perf_counter() - t0)

    rate = len(texts) / elapsed
    mb = 1024 * 1024
    print(f"texts: {len(texts)} ({ko_share:.0%} Korean), one core, model: {analyzer.source}")
    print(f"load (Kiwi + model): {load_s:.1f} s")
    print(f"analyze_many: {rate:,.0f} texts/s ({elapsed:.1f} s)")
    print(
        f"baseline, Kiwi tokenisation alone (Korean texts): {kiwi_rate:,.0f} texts/s; "
        f"pipeline/baseline = {rate / kiwi_rate:.2f}"
    )
    print(
        f"RSS: start {rss_start / mb:.0f} MB, loaded {rss_loaded / mb:.0f} MB, "
        f"peak {rss_peak / mb:.0f} MB; "
        f"tracemalloc peak of one 256-text batch {traced_peak / mb:.1f} MB"
    )
    print("goals: >= 500 texts/s per core, memory < 600 MB")


if __name__ == "__main__":
    main()
