"""Export each event's JSON Schema to docs/schemas/ (``python -m dealpulse_common.schemas docs/schemas``).

A test fails when the committed export is stale, so a contract never changes without it showing in review.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dealpulse_common.topics import ALL_TOPICS


def rendered_schemas() -> dict[str, str]:
    """File name -> JSON Schema text, one per topic's event model."""
    return {
        f"{topic.name}.json": json.dumps(topic.event.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for topic in ALL_TOPICS
    }


def export(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in rendered_schemas().items():
        (folder / name).write_text(text)


if __name__ == "__main__":
    export(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"))
