"""Every command in docs/OPERATIONS.md is one that works here.

Each line of the runbook's ``sh`` blocks (shell variables it sets expanded as a shell would) is either
- a ``dealpulse`` command (also when it runs inside a ``kubectl run`` pod, after ``--``): the CLI's own parser must
  accept it, and ``EXERCISED`` names the test that runs that sub-command; or
- a ``kubectl`` command: kubectl itself must accept the same command line (``--help`` of it: an unknown command or
  flag fails), and every object, overlay, image, claim and setting it names must be what the overlay of its
  namespace renders.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from dealpulse_cli.main import build_parser
from dealpulse_common.settings import ServiceSettings
from tests.unit.deploy.conftest import KUBECTL, OVERLAYS, ROOT, Manifest, of_kind, pod_templates, render

RUNBOOK = ROOT / "docs/OPERATIONS.md"
# Where the suite runs each `dealpulse` sub-command the runbook uses ("path::test" or a test file that runs it).
EXERCISED = {
    "models": "tests/unit/scorer/test_model_cli.py::test_models_lists_versions_and_rollback_switches_back",
    "rollback": "tests/unit/scorer/test_model_cli.py::test_models_lists_versions_and_rollback_switches_back",
    "promote": "tests/unit/scorer/test_promotion_gate.py::test_cli_refuses_with_exit_code_2_and_says_why",
    "import": "tests/integration/test_imports.py::test_cli_imports_with_progress_and_summary",
    "dlq": "tests/integration/test_dlq_cli.py::"
           "test_list_show_and_replay_select_by_topic_reason_and_time_and_a_second_replay_changes_nothing",
    "tenant": "tests/integration/test_secret_keys.py::test_reencrypt_seals_with_the_first_key_or_changes_nothing",
    "user": "tests/integration/test_people.py",
}
# The label of the one-off pod a sub-command runs in (what the NetworkPolicies let it reach): ops (Kafka) unless
# named here; people reaches PostgreSQL and Redis (`dealpulse user`).
POD_LABELS = {"user": "app.kubernetes.io/name=people"}
# kubectl's short names for the kinds the runbook names.
KINDS = {"deployment": "Deployment", "job": "Job", "cronjob": "CronJob", "scaledobject": "ScaledObject",
         "hpa": "HorizontalPodAutoscaler", "kafkatopic": "KafkaTopic", "secret": "Secret"}


@dataclass(frozen=True)
class Command:
    line: str
    argv: tuple[str, ...]


def runbook_commands() -> list[Command]:
    """The command lines of every ``sh`` block, with the variables set before them expanded."""
    blocks = re.findall(r"^ *```sh\n(.*?)^ *```", RUNBOOK.read_text(), flags=re.MULTILINE | re.DOTALL)
    variables: dict[str, str] = {}
    commands = []
    for block in blocks:
        for raw in block.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if assignment := re.fullmatch(r"([A-Z_]+)=(.+)", line):
                [variables[assignment[1]]] = shlex.split(assignment[2])
                continue
            for name, value in variables.items():
                line = line.replace(f'"${name}"', shlex.quote(value)).replace(f"${name}", value)
            commands.append(Command(raw.strip(), tuple(shlex.split(line))))
    return commands


def test_the_runbook_has_commands_for_every_task() -> None:
    argvs = [" ".join(c.argv) for c in runbook_commands()]
    for expected in ("apply -k", "-- rollback", "-- promote", "dlq replay", "create job", "rollout restart",
                     "dealpulse import", "create secret generic", "-- user disable"):
        assert any(expected in argv for argv in argvs), expected


@pytest.mark.parametrize("command", runbook_commands(), ids=lambda command: command.line[:70])
def test_each_runbook_command_works_here(command: Command) -> None:
    tool, *args = command.argv
    if tool == "dealpulse":
        _check_dealpulse(args)
    elif tool == "kubectl":
        _check_kubectl(args)
    else:
        pytest.fail(f"{command.line}: not a command this test knows how to check")


def _check_dealpulse(args: list[str]) -> None:
    parsed = build_parser().parse_args(args)  # an unknown command or option exits: the test fails
    where = EXERCISED.get(parsed.command)
    assert where, f"no test is listed as running `dealpulse {parsed.command}`"
    path, _, test = where.partition("::")
    source = (ROOT / path).read_text()
    assert (f"def {test}(" in source) if test else (parsed.command in source), where


def _overlay_of(args: list[str]) -> tuple[str, tuple[Manifest, ...]]:
    namespace = args[args.index("-n") + 1] if "-n" in args else None
    for flag in ("-k",):
        if flag in args:
            path = Path(args[args.index(flag) + 1])
            return path.name, render(path.name)
    if args[0] == "kustomize":
        return Path(args[1]).name, render(Path(args[1]).name)
    for overlay in OVERLAYS:
        docs = render(overlay)
        if {d["metadata"].get("namespace") for d in docs} == {namespace}:
            return overlay, docs
    raise AssertionError(f"no overlay deploys to namespace {namespace!r}")


def _check_kubectl(args: list[str]) -> None:
    split = args.index("--") if "--" in args else len(args)
    flags, inner = args[:split], args[split + 1:]
    result = subprocess.run([KUBECTL, *flags, "--help"], capture_output=True, text=True)
    assert result.returncode == 0, f"kubectl refuses {shlex.join(flags)}: {result.stderr.strip()}"
    overlay, docs = _overlay_of(flags)
    assert overlay in OVERLAYS
    _check_objects_named(flags, docs)
    if flags[flags.index("-n") + 2 if "-n" in flags else 0] == "run":
        _check_one_off_pod(flags, inner, docs)
    if "secret" in flags:
        _check_secret(flags, docs)


def _check_objects_named(flags: list[str], docs: tuple[Manifest, ...]) -> None:
    """``kind/name`` references, ``get`` of kinds, and ``delete job A B`` all name what the overlay renders."""
    for token in flags:
        if ref := re.fullmatch(r"(?:--from=)?([a-z]+)/([\w.-]+)", token):
            assert ref[2] in of_kind(docs, KINDS[ref[1]]), token
    if "get" in flags:
        for kind in flags[flags.index("get") + 1].split(","):
            assert of_kind(docs, KINDS[kind]), kind
    if "delete" in flags:
        kind, *names = [t for t in flags[flags.index("delete") + 1:] if not t.startswith("-")]
        assert names and all(name in of_kind(docs, KINDS[kind]) for name in names), names


def _option(flags: list[str], name: str) -> list[str]:
    return [token.split("=", 1)[1] for token in flags if token.startswith(f"--{name}=")]


def _check_one_off_pod(flags: list[str], inner: list[str], docs: tuple[Manifest, ...]) -> None:
    """A pod of the overlay's CLI image, labelled for what its command reaches, with the overlay's settings, claim
    and secret keys, running a command the CLI accepts."""
    images = {c["image"] for t in pod_templates(docs).values() for c in t["spec"]["containers"]
              if c.get("args", [""])[0] in {"migrate", "bootstrap-model", "retrain"}}
    assert _option(flags, "image") == [images.pop()] and not images
    assert _option(flags, "labels") == [POD_LABELS.get(inner[0], "app.kubernetes.io/name=ops")]
    config = of_kind(docs, "ConfigMap")["dealpulse-config"]["data"]
    for setting in _option(flags, "env"):
        name, value = setting.split("=", 1)
        assert name == "DEALPULSE_MODEL_REGISTRY" or config[name] == value, setting
    # The keys of the Secret a pod may take: those a workload takes by name, and the services' own settings.
    fields = ServiceSettings.model_fields
    secret_keys = {ref["key"] for t in pod_templates(docs).values() for c in t["spec"]["containers"]
                   for e in c.get("env", []) if (ref := e.get("valueFrom", {}).get("secretKeyRef"))} | {
        fields[f].validation_alias for f in ("database_url", "redis_url")}
    for overrides in _option(flags, "overrides"):
        spec = json.loads(overrides)["spec"]
        claims = {v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes", [])}
        assert claims <= set(of_kind(docs, "PersistentVolumeClaim")), claims
        keys = {e["valueFrom"]["secretKeyRef"]["key"] for c in spec["containers"] for e in c.get("env", [])}
        assert keys <= secret_keys, keys - secret_keys
    _check_dealpulse(inner)


def _check_secret(flags: list[str], docs: tuple[Manifest, ...]) -> None:
    """The Secret the workloads read, with every key they take from it and the services' own secret settings."""
    name = flags[flags.index("generic") + 1]
    keys = {setting.split("=", 1)[0] for setting in _option(flags, "from-literal")}
    referenced = {ref["key"] for t in pod_templates(docs).values() for c in t["spec"]["containers"]
                  for e in c.get("env", []) if (ref := e.get("valueFrom", {}).get("secretKeyRef"))
                  if ref["name"] == name}
    fields = ServiceSettings.model_fields
    services = {fields[f].validation_alias for f in ("database_url", "redis_url", "jwt_secret", "secrets_keys")}
    assert referenced and referenced | services <= keys, (keys, referenced | services)
