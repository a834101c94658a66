"""docs/BENCHMARKS.md: each benchmark owns one marked section, rewritten with the command, machine and date."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import psutil

HEADER = """# DealPulse benchmarks

Written by `make bench` (`dealpulse bench`: every section in one run, a progress line each, about 45 minutes on
this 2-core machine); `dealpulse bench SECTION` runs one. Each section is replaced by its latest run, and its
figures go to `docs/benchmarks.json` beside this file; `dealpulse bench compare [--against REV]` prints each
figure's ratio to that file as committed, so a slower change is seen before it lands. Targets are in DESIGN.md;
tests never assert timings (these machines are noisy), the numbers live here.
"""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}")


def write_section(path: Path, name: str, body: str, command: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (f"<!-- bench:{name} -->\n{body.rstrip()}\n\n"
               f"*Command:* `{command}` — *machine:* {machine()} — *date:* {stamp}\n<!-- /bench:{name} -->")
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)
