"""CPU time and context switches of a server's processes and their descendants, read from Linux's /proc.

The load benchmarks (classroom_load.py, classroom_why.py) count what the server spent, not the wall clock:
the machine is shared, and a neighbour's load stretches wall time but not a process's CPU time.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def with_descendants(pids: list[int]) -> list[int]:
    """These processes and all their descendants (the training workers of a server process), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = set(pids), list(pids)
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found.add(child)
                frontier.append(child)
    return sorted(found)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their descendants (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in with_descendants(pids):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def context_switches(pids: list[int]) -> dict[int, int]:
    """Voluntary + involuntary context switches so far of every thread of these processes and their
    descendants (Linux /proc), by thread id. A thread that gives up the GIL and waits for it again is switched
    out and back in: the count per epoch shows how much the threads hand the interpreter around."""
    counts: dict[int, int] = {}
    for pid in with_descendants(pids):
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            with contextlib.suppress(OSError, ValueError):
                counts[int(status.parent.name)] = sum(int(line.split()[-1]) for line in status.read_text().splitlines()
                                                      if "ctxt_switches:" in line)  # fmt: skip
    return counts


def switches_between(before: dict[int, int], after: dict[int, int]) -> int:
    """Context switches in the window: a thread that ended in it is left out (its last count is gone), and one
    that started in it counts from zero. Summing totals instead went negative when a worker exited."""
    return sum(count - before.get(tid, 0) for tid, count in after.items())
