"""The model registry on disk and the loaded, serving-ready model.

Serving-safe: numpy and onnxruntime only (scikit-learn never loads here).

Layout::

    <root>/global/active.json                     which version serves, the promotion stack and history
    <root>/global/<version>/model.onnx            + features.json priors.json metrics.json manifest.json
    <root>/tenants/<tenant_id>/active.json
    <root>/tenants/<tenant_id>/<version>/...

A version folder appears atomically (written under a dot-named staging folder, then renamed), so a reader
never sees half an artifact. ``active.json`` is replaced atomically too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.tenancy import is_tenant_id
from dealpulse_scorer.features import (
    FEATURE_VERSION,
    FEATURES,
    N_FEATURES,
    SegmentPriors,
    build_features,
    build_matrix,
    feature_spec_dicts,
)

log = logging.getLogger(__name__)

ARTIFACT_FILES: tuple[str, ...] = ("model.onnx", "features.json", "priors.json", "metrics.json", "manifest.json")
KEEP_PROMOTED = 3  # promoted versions kept for rollback
KEEP_CANDIDATES = 3  # never-promoted versions kept, newest first
HISTORY_LIMIT = 100
SUMMARY_METRICS = ("roc_auc", "pr_auc", "brier", "ece")
_VERSION_PATTERN = re.compile(r"^v[0-9A-Za-z._-]+$")


class ModelRegistryError(RuntimeError):
    pass


class NoActiveModel(ModelRegistryError):
    pass


class IncompatibleModel(ModelRegistryError):
    """The artifact was trained on a different feature list than this code computes."""


@dataclass(frozen=True)
class VersionInfo:
    version: str
    tenant_id: str | None
    created_at: str
    active: bool
    promoted: bool  # on the rollback stack
    metrics: dict[str, Any]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_json_atomic(path: Path, payload: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_feature_spec(features_json: dict[str, Any]) -> None:
    found = [(f["name"], f["kind"]) for f in features_json.get("features", [])]
    expected = [(spec.name, spec.kind) for spec in FEATURES]
    if found != expected:
        raise IncompatibleModel(f"artifact features {found} do not match this scorer's {expected}")
    version = features_json.get("feature_version", 1)
    if version != FEATURE_VERSION:
        raise IncompatibleModel(f"artifact was trained on feature version {version}, this scorer computes "
                                f"version {FEATURE_VERSION}: retrain it")


class LoadedModel:
    """A model version ready to score: an onnxruntime session, its priors and its explanation reference row."""

    def __init__(self, path: Path, tenant_id: str | None = None) -> None:
        self.path = path
        self.tenant_id = tenant_id  # None for the global model
        self.manifest: dict[str, Any] = _read_json(path / "manifest.json")
        self.version: str = self.manifest["version"]
        features_json = _read_json(path / "features.json")
        check_feature_spec(features_json)
        reference = np.asarray(features_json["reference"], dtype=np.float32)
        if reference.shape != (N_FEATURES,):
            raise IncompatibleModel(f"reference row has shape {reference.shape}, expected ({N_FEATURES},)")
        self.reference = reference
        self.drift_baseline: dict[str, Any] = features_json.get("drift_baseline", {})
        self.priors = SegmentPriors.from_json((path / "priors.json").read_text())
        self.metrics: dict[str, Any] = _read_json(path / "metrics.json")
        options = ort.SessionOptions()
        # Two cores serve five services: one thread per inference keeps latency predictable.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(
            str(path / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name
        outputs = [o.name for o in self._session.get_outputs()]
        if "probabilities" not in outputs:
            raise IncompatibleModel(f"model outputs {outputs} lack 'probabilities' (export with zipmap=False)")

    @property
    def scope(self) -> str:
        return "global" if self.tenant_id is None else f"tenant:{self.tenant_id}"

    def predict_win(self, features: np.ndarray) -> np.ndarray:
        """Win probability per row of ``features`` (shape (n, N_FEATURES) or (N_FEATURES,))."""
        batch = np.asarray(features, dtype=np.float32)
        if batch.ndim == 1:
            batch = batch.reshape(1, -1)
        if batch.shape[1] != N_FEATURES:
            raise ValueError(f"expected {N_FEATURES} features per row, got {batch.shape[1]}")
        if batch.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        probabilities = self._session.run(["probabilities"], {self._input_name: batch})[0]
        return np.clip(np.asarray(probabilities[:, 1], dtype=np.float64), 0.0, 1.0)

    def features(self, deal: CanonicalDeal, as_of: datetime) -> np.ndarray:
        return build_features(deal, as_of, self.priors)

    def features_matrix(self, deals: Iterable[CanonicalDeal], as_ofs: Iterable[datetime]) -> np.ndarray:
        return build_matrix(deals, as_ofs, self.priors)


class ModelRegistry:
    """Versioned model folders per scope (global, or one tenant) with an active pointer and rollback."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._models: dict[Path, LoadedModel] = {}
        self._pointer_cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}

    # ------------------------------------------------------------ layout

    def scope_dir(self, tenant_id: str | None = None) -> Path:
        if tenant_id is None:
            return self.root / "global"
        if not is_tenant_id(tenant_id):
            raise ValueError(f"tenant id {tenant_id!r} is not safe as a folder name")
        return self.root / "tenants" / tenant_id

    def version_dir(self, version: str, tenant_id: str | None = None) -> Path:
        if not _VERSION_PATTERN.match(version):
            raise ValueError(f"version {version!r} is not a valid version name")
        return self.scope_dir(tenant_id) / version

    def _pointer_path(self, tenant_id: str | None) -> Path:
        return self.scope_dir(tenant_id) / "active.json"

    def _read_pointer(self, tenant_id: str | None) -> dict[str, Any]:
        path = self._pointer_path(tenant_id)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return {"active": None, "stack": [], "history": []}
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._pointer_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        pointer: dict[str, Any] = _read_json(path)
        self._pointer_cache[path] = (stamp, pointer)
        return pointer

    def _write_pointer(self, tenant_id: str | None, pointer: dict[str, Any]) -> None:
        pointer["history"] = pointer["history"][-HISTORY_LIMIT:]
        path = self._pointer_path(tenant_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, pointer)
        self._pointer_cache.pop(path, None)

    # ------------------------------------------------------------ reading

    def active_version(self, tenant_id: str | None = None) -> str | None:
        """The active version of exactly this scope (no fallback to global)."""
        active: str | None = self._read_pointer(tenant_id).get("active")
        return active

    def version_exists(self, version: str, tenant_id: str | None = None) -> bool:
        return (self.version_dir(version, tenant_id) / "manifest.json").is_file()

    def load(self, version: str, tenant_id: str | None = None) -> LoadedModel:
        path = self.version_dir(version, tenant_id)
        with self._lock:
            model = self._models.get(path)
            if model is None:
                if not (path / "manifest.json").is_file():
                    raise ModelRegistryError(f"no model version {version} in {self.scope_dir(tenant_id)}")
                model = LoadedModel(path, tenant_id)
                self._models[path] = model
            return model

    def load_active(self, tenant_id: str | None = None) -> LoadedModel:
        """The tenant's active model if it has one, else the active global model. Cheap to call per event:
        the pointer is re-read only when its file changes, and a loaded version stays cached."""
        if tenant_id is not None:
            version = self.active_version(tenant_id)
            if version is not None:
                try:
                    return self.load(version, tenant_id)
                except ModelRegistryError as error:
                    # A broken tenant artifact must not stop the tenant being scored: the global model serves.
                    log.warning("tenant %s model %s unusable, serving global: %s", tenant_id, version, error)
        version = self.active_version(None)
        if version is None:
            raise NoActiveModel(f"no active global model in {self.root}")
        return self.load(version, None)

    def evict(self, keep: Iterable[LoadedModel]) -> None:
        """Forget cached models other than ``keep`` (they stay usable by whoever still holds them)."""
        paths = {model.path for model in keep}
        with self._lock:
            for path in [p for p in self._models if p not in paths]:
                del self._models[path]

    def list_versions(self, tenant_id: str | None = None) -> list[VersionInfo]:
        scope = self.scope_dir(tenant_id)
        if not scope.is_dir():
            return []
        pointer = self._read_pointer(tenant_id)
        infos = []
        for path in scope.iterdir():
            if not (path.is_dir() and _VERSION_PATTERN.match(path.name) and (path / "manifest.json").is_file()):
                continue
            manifest = _read_json(path / "manifest.json")
            metrics_path = path / "metrics.json"
            metrics = _read_json(metrics_path).get("model", {}) if metrics_path.is_file() else {}
            infos.append(
                VersionInfo(
                    version=path.name,
                    tenant_id=tenant_id,
                    created_at=manifest.get("created_at", ""),
                    active=path.name == pointer.get("active"),
                    promoted=path.name in pointer.get("stack", []),
                    metrics=metrics,
                )
            )
        return sorted(infos, key=lambda info: (info.created_at, info.version))

    def describe(self, tenant_id: str | None = None) -> list[str]:
        """Human-readable lines for ``dealpulse models``: each scope's versions, the active one starred.
        Without a tenant: the global scope and every tenant scope."""
        scopes: list[str | None] = [tenant_id] if tenant_id is not None else [None, *self.list_tenants()]
        lines = []
        for scope in scopes:
            active = self.active_version(scope)
            if scope is None:
                lines.append(f"global: active {active or 'none'}")
            else:
                lines.append(f"tenant {scope}: active {active or 'none (served by the global model)'}")
            for info in self.list_versions(scope):
                marker = "*" if info.active else ("r" if info.promoted else " ")
                scores = "  ".join(f"{k} {info.metrics[k]}" for k in SUMMARY_METRICS if k in info.metrics)
                lines.append(f"  {marker} {info.version}  created {info.created_at[:19]}  {scores}")
        lines.append("(* active, r on the rollback stack)")
        return lines

    def list_tenants(self) -> list[str]:
        tenants = self.root / "tenants"
        return sorted(p.name for p in tenants.iterdir() if p.is_dir()) if tenants.is_dir() else []

    # ------------------------------------------------------------ writing

    def add_version(self, staged: Path, version: str, tenant_id: str | None = None) -> Path:
        """Publish a fully written staging folder as ``version`` (atomic rename; never overwrites)."""
        missing = [name for name in ARTIFACT_FILES if not (staged / name).is_file()]
        if missing:
            raise ModelRegistryError(f"staged model lacks {missing}")
        check_feature_spec(_read_json(staged / "features.json"))
        target = self.version_dir(version, tenant_id)
        if target.exists():
            raise ModelRegistryError(f"version {version} already exists in {target.parent}")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, target)
        return target

    def staging_dir(self, tenant_id: str | None = None) -> Path:
        """A fresh folder on the same filesystem as the scope, so publishing is a rename."""
        scope = self.scope_dir(tenant_id)
        scope.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=scope))

    def promote(self, version: str, tenant_id: str | None = None, *, reason: str = "") -> None:
        """Make ``version`` the active model of its scope (the model must load cleanly first)."""
        self.load(version, tenant_id)  # refuses a broken or incompatible artifact before it can serve
        pointer = self._read_pointer(tenant_id)
        previous = pointer.get("active")
        stack = [v for v in pointer.get("stack", []) if v != version] + [version]
        stack = stack[-KEEP_PROMOTED:]
        history = [*pointer.get("history", []), _history_entry("promote", version, previous, reason)]
        self._write_pointer(tenant_id, {"active": version, "stack": stack, "history": history})
        self.prune(tenant_id)

    def rollback(self, tenant_id: str | None = None, *, reason: str = "") -> str:
        """Re-activate the previously promoted version; returns it."""
        pointer = self._read_pointer(tenant_id)
        stack = [v for v in pointer.get("stack", []) if self.version_exists(v, tenant_id)]
        if len(stack) < 2:
            raise ModelRegistryError(f"nothing to roll back to in {self.scope_dir(tenant_id)}")
        current, stack = stack[-1], stack[:-1]
        target: str = stack[-1]
        self.load(target, tenant_id)
        history = [*pointer.get("history", []), _history_entry("rollback", target, current, reason)]
        self._write_pointer(tenant_id, {"active": target, "stack": stack, "history": history})
        return target

    def deactivate(self, tenant_id: str) -> None:
        """Stop serving a tenant model (the tenant falls back to the global one). Folders stay."""
        pointer = self._read_pointer(tenant_id)
        history = [*pointer.get("history", []), _history_entry("deactivate", None, pointer.get("active"), "")]
        self._write_pointer(tenant_id, {"active": None, "stack": pointer.get("stack", []), "history": history})

    def history(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        return list(self._read_pointer(tenant_id).get("history", []))

    def prune(self, tenant_id: str | None) -> list[str]:
        """Keep the rollback stack (the last ``KEEP_PROMOTED`` promoted versions), every never-promoted
        version newer than the active one (candidates awaiting a decision) and the ``KEEP_CANDIDATES`` newest
        older candidates; remove every other version folder of the scope. Runs on each promotion."""
        pointer = self._read_pointer(tenant_id)
        keep = set(pointer.get("stack", []))
        active = pointer.get("active")
        if active:
            keep.add(active)
        ever_promoted = {entry.get("version") for entry in pointer.get("history", [])}
        infos = self.list_versions(tenant_id)  # oldest first
        active_created = next((info.created_at for info in infos if info.version == active), "")
        candidates = [i for i in infos if i.version not in ever_promoted and i.version not in keep]
        older = [i.version for i in candidates if i.created_at <= active_created]
        keep.update(i.version for i in candidates if i.created_at > active_created)
        keep.update(older[-KEEP_CANDIDATES:] if KEEP_CANDIDATES else [])
        removed = []
        for info in infos:
            if info.version in keep:
                continue
            path = self.version_dir(info.version, tenant_id)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(info.version)
            with self._lock:
                self._models.pop(path, None)
        if removed:
            log.info("pruned model versions %s from %s", removed, self.scope_dir(tenant_id))
        return removed


def _history_entry(action: str, version: str | None, previous: str | None, reason: str) -> dict[str, Any]:
    return {
        "action": action,
        "version": version,
        "previous": previous,
        "reason": reason,
        "at": datetime.now(UTC).isoformat(),
    }


def features_json_payload(reference: np.ndarray, drift_baseline: dict[str, Any]) -> dict[str, Any]:
    """What ``features.json`` holds; kept here so the writer (training) and reader (serving) agree."""
    return {
        "feature_version": FEATURE_VERSION,
        "features": feature_spec_dicts(),
        "reference": [float(v) for v in reference],
        "drift_baseline": drift_baseline,
    }
