"""How long the glyphs take to appear: generated cold, read from the disk cache, and through load_dataset.

    python benchmarks/glyph_data.py            # 3 rounds, about 15 s
    python benchmarks/glyph_data.py --rounds 5

Every round uses a fresh temporary cache folder ($MARGIN_LAB_CACHE), so "cold" really generates: every identity's
samples jittered from the shipped renderings (toy_models/data_files/glyphs.npz). "cached" reads the file the cold
call wrote (checksum verified). Prints the median wall and CPU seconds of each, the ratios cold / cached (of CPU
time: on a shared machine a neighbour stretches the wall clock, not this process's CPU time) and the goal from
issue 17, generated in at most 5 s (judged on CPU seconds; the load average is printed beside it). A report, not a
test: no number can fail here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_COLD_S = 5.0


def timed(call) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from toy_models import glyphs
    from toy_models.data import load_dataset

    table_wall, _ = timed(glyphs.glyph_table)  # read and sha256-checked once per process
    table = glyphs.glyph_table()
    samples = len(table.codepoints) * glyphs.SAMPLES_PER_IDENTITY
    print(f"renderings file {glyphs.GLYPH_FILE.name}: {glyphs.GLYPH_FILE.stat().st_size / 1e6:.2f} MB, "
          f"{len(table.codepoints)} identities x {len(table.faces)} faces, read in {table_wall:.3f} s")
    print(f"{samples} samples per seed ({glyphs.SAMPLES_PER_IDENTITY} per identity), {args.rounds} rounds, medians")
    results: dict[str, list[tuple[float, float]]] = {"cold": [], "cached": [], "load_cold": [], "load_cached": []}
    for round_index in range(args.rounds):
        seed = 1000 + round_index  # a seed no earlier run cached
        with tempfile.TemporaryDirectory() as folder:
            os.environ[glyphs.CACHE_ENV] = folder
            glyphs.all_samples.cache_clear()
            results["cold"].append(timed(lambda seed=seed: glyphs.all_samples(seed)))
            glyphs.all_samples.cache_clear()
            results["cached"].append(timed(lambda seed=seed: glyphs.all_samples(seed)))
            glyphs.all_samples.cache_clear()
            results["load_cached"].append(timed(lambda seed=seed: load_dataset("glyphs", seed=seed)))
            for path in Path(folder).glob("*.npz"):
                path.unlink()
            glyphs.all_samples.cache_clear()
            results["load_cold"].append(timed(lambda seed=seed: load_dataset("glyphs", seed=seed)))
    glyphs.all_samples.cache_clear()

    def median(name: str, part: int) -> float:
        return statistics.median(r[part] for r in results[name])

    for name, what in (("cold", "generate every identity's samples (no cache)"),
                       ("cached", "read them from the disk cache"),
                       ("load_cold", "load_dataset('glyphs'), no cache"),
                       ("load_cached", "load_dataset('glyphs'), cached")):
        print(f"  {name:<12} {median(name, 0):6.3f} s wall {median(name, 1):6.3f} s CPU  {what}")
    print(f"  wall-time ratio cold / cached {median('cold', 0) / median('cached', 0):.1f}")
    print(f"cold_vs_cached: {median('cold', 1) / median('cached', 1):.1f}")
    print(f"load_cold_vs_load_cached: {median('load_cold', 1) / median('load_cached', 1):.1f}")
    met = "yes" if median("cold", 1) <= GOAL_COLD_S else "NO"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"generated within {GOAL_COLD_S:g} s: {met} ({median('cold', 1):.2f} CPU s, {median('cold', 0):.2f} s wall "
          f"at load average {load:.1f} on {os.cpu_count()} cores); "
          f"shipped file within 5 MB: {'yes' if glyphs.GLYPH_FILE.stat().st_size <= 5e6 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
