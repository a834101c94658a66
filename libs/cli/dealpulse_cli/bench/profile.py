"""Where a service's CPU goes under a benchmark's load: py-spy samples each process (without pausing it) while
the load runs, and the collapsed stacks are summed into the packages and functions that were on CPU and the
innermost frame of ours that led there (shares of the samples). Idle threads are not sampled, so the shares are of
the time each process was busy."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

OURS = ("dealpulse_",)
TOP = 6


@dataclass
class Profile:
    process: str
    samples: int = 0
    on_cpu: list[tuple[str, float]] = field(default_factory=list)  # leaf functions: (name, share of samples)
    ours: list[tuple[str, float]] = field(default_factory=list)  # our innermost frame on the stack
    packages: list[tuple[str, float]] = field(default_factory=list)  # the package the leaf function is in


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found


async def record(pids: dict[str, int], seconds: float, folder: Path) -> dict[str, Profile]:
    """Sample every process for ``seconds`` at once (run it beside the load) and summarize each."""
    async def one(name: str, pid: int) -> Profile:
        out = folder / f"{name}.txt"
        process = await asyncio.create_subprocess_exec(
            _py_spy(), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
            "--nonblocking", "--format", "raw", "--output", str(out),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await process.wait()
        return summarize(name, out.read_text() if out.exists() else "")

    profiles = await asyncio.gather(*(one(name, pid) for name, pid in pids.items()))
    return {p.process: p for p in profiles}


def summarize(process: str, collapsed: str) -> Profile:
    """Collapsed stacks ("frame;frame;... count" per line, outermost first) into the top leaves and our frames."""
    leaves: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaves[_short(frames[-1])] += count
        packages[_package(frames[-1])] += count
        own = next((f for f in reversed(frames) if any(mark in f for mark in OURS)), None)
        ours[_short(own) if own else "(outside our code)"] += count
    share = (lambda c: c / total) if total else (lambda c: 0.0)
    return Profile(process, total, [(n, share(c)) for n, c in leaves.most_common(TOP)],
                   [(n, share(c)) for n, c in ours.most_common(TOP)],
                   [(n, share(c)) for n, c in packages.most_common(TOP)])


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``."""
    name, _, where = frame.partition(" (")
    module = where.rstrip(")").rsplit("/", 1)[-1].split(":", 1)[0]
    return f"{name} ({module})" if module else name


def _package(frame: str) -> str:
    """The distribution or standard-library package a frame's file belongs to (``asyncpg``, ``asyncio``...)."""
    path = frame.partition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    parts = path.split("/")
    ours = next((part for part in parts if part.startswith(OURS)), None)
    if ours:
        return ours
    return parts[-2] if len(parts) > 1 and parts[-2] not in ("lib", "python3.11") else parts[-1].removesuffix(".py")


def markdown(profiles: dict[str, Profile]) -> list[str]:
    lines = ["| process | samples | on CPU by package | on CPU (leaf functions) | our innermost frame |",
             "| --- | ---: | --- | --- | --- |"]
    for p in profiles.values():
        columns = ("; ".join(f"{name} {share:.0%}" for name, share in found) or "–"
                   for found in (p.packages, p.on_cpu, p.ours))
        lines.append(f"| {p.process} | {p.samples} | " + " | ".join(columns) + " |")
    return lines
