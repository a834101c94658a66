"""Every overlay under deploy/k8s/overlays, rendered once by a real kubectl (kustomize), no cluster needed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
OVERLAYS = sorted(path.name for path in (ROOT / "deploy/k8s/overlays").iterdir() if path.is_dir())

Manifest = dict[str, Any]


@cache
def render(overlay: str) -> tuple[Manifest, ...]:
    out = subprocess.run([KUBECTL, "kustomize", str(ROOT / "deploy/k8s/overlays" / overlay)], check=True,
                         capture_output=True, text=True).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def of_kind(docs: tuple[Manifest, ...], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_templates(docs: tuple[Manifest, ...]) -> dict[str, Manifest]:
    """Every pod template by its workload's name: Deployments, Jobs, and the Jobs of CronJobs."""
    templates = {}
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] in ("Deployment", "Job"):
            templates[doc["metadata"]["name"]] = spec["template"]
        elif doc["kind"] == "CronJob":
            templates[doc["metadata"]["name"]] = spec["jobTemplate"]["spec"]["template"]
    return templates


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, tuple[Manifest, ...]]:
    return request.param, render(request.param)

