"""The Dockerfile, read as text (no Docker engine here): two stages, wheels built in the first and
installed offline in the second, a pinned base, a non-root user, OCI labels, nothing that needs a
writable root filesystem; `.dockerignore` and `make image` agree with it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OCI_LABELS = {
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.version",
}
PINNED_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make|cc)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, rest)

    def all(self, instruction: str) -> list[str]:
        return [rest for op, rest in self.instructions if op == instruction]


def version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return str(project["version"])


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and `\\` continuations joined."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    parsed = []
    for line in logical:
        op, _, rest = line.partition(" ")
        parsed.append((op.upper(), rest.strip()))
    return parsed


def substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), text)


def pairs(rest: str) -> dict[str, str]:
    """`KEY=value KEY2="two words"` (ENV, LABEL, ARG) as a dict."""
    found = {}
    for token in shlex.split(rest):
        key, sep, value = token.partition("=")
        found[key] = value if sep else ""
    return found


def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults (before the first FROM) and the stages, FROM resolved."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for op, rest in instructions((ROOT / "Dockerfile").read_text(encoding="utf-8")):
        if op == "FROM":
            words = substitute(rest, global_args).split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            assert op == "ARG", f"only ARG may come before the first FROM, not {op}"
            global_args.update(pairs(rest))
        else:
            stages[-1].instructions.append((op, rest))
    return global_args, stages


def final_stage_args(stage: Stage) -> dict[str, str]:
    args: dict[str, str] = {}
    for rest in stage.all("ARG"):
        args.update(pairs(rest))
    return args


def test_two_stages_on_a_pinned_slim_python_never_latest() -> None:
    _, stages = dockerfile()
    assert len(stages) >= 2, "multi-stage: wheels are built in a stage of their own"
    for stage in stages:
        assert PINNED_BASE.match(stage.base), f"{stage.base}: pin python:3.11.X-slim-bookworm"
        assert not stage.base.endswith(":latest")
    assert stages[0].name, "the build stage is named, so the final stage can refer to it"


def test_the_first_stage_builds_wheels_of_the_project_and_its_dependencies() -> None:
    _, stages = dockerfile()
    runs = " ".join(stages[0].all("RUN"))
    assert re.search(r"pip wheel\b.*--wheel-dir[= ]/wheels\b.* \.$", runs), runs
    copied = " ".join(stages[0].all("COPY"))
    for needed in ("pyproject.toml", "README.md", "core", "bot"):  # README: the package's readme
        assert needed in copied, f"the build stage must copy {needed}"


def test_the_final_stage_installs_only_the_wheels_without_cache_or_compilers() -> None:
    _, stages = dockerfile()
    build, final = stages[0], stages[-1]
    runs = final.all("RUN")
    installs = [r for r in runs if re.search(r"\bpip3? install\b", r)]
    assert installs, "the final stage installs the wheels with pip"
    for run in runs:
        for command in re.split(r"&&|;", run):
            if re.search(r"\bpip3? install\b", command):
                assert "--no-cache-dir" in command, command
                assert "--no-index" in command, command
                assert "--find-links" in command, command
        assert not re.search(r"apt-get install", run) or not COMPILERS.search(run), run
    assert any(f"from={build.name}" in run for run in installs), (
        "install from the build stage's wheels (a bind mount, so they are no layer)"
    )
    assert not any("/root/.cache" in run for run in runs)


def test_the_final_stage_runs_as_10001_with_the_cli_as_entrypoint() -> None:
    _, stages = dockerfile()
    final = stages[-1]
    users = final.all("USER")
    assert users and users[-1] in ("10001", "10001:10001"), users
    runs = " ".join(final.all("RUN"))
    assert re.search(r"--uid 10001\b", runs) and re.search(r"--gid 10001\b", runs), runs
    entrypoints = final.all("ENTRYPOINT")
    assert entrypoints == ['["namespace-ctl"]'], "exec form, so SIGTERM reaches the process"
    assert all(not c.startswith("[") or "serve" in c for c in final.all("CMD"))


def test_oci_labels_and_their_version_is_the_projects() -> None:
    _, stages = dockerfile()
    final = stages[-1]
    labels: dict[str, str] = {}
    for rest in final.all("LABEL"):
        labels.update(pairs(rest))
    assert set(labels) >= OCI_LABELS, OCI_LABELS - set(labels)
    assert all(labels[k] for k in OCI_LABELS)
    args = final_stage_args(final)
    assert substitute(labels["org.opencontainers.image.version"], args) == version()
    assert substitute(labels["org.opencontainers.image.title"], args) == "namespace-ctl"


def test_nothing_needs_a_writable_root_filesystem() -> None:
    _, stages = dockerfile()
    final = stages[-1]
    env: dict[str, str] = {}
    for rest in final.all("ENV"):
        env.update(pairs(rest))
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("HOME", "").startswith("/tmp"), "HOME on the /tmp emptyDir"
    # The data volume's mount point exists and belongs to the user (for `docker run` too).
    runs = " ".join(final.all("RUN"))
    assert "mkdir -p /var/lib/namespace-ctl" in runs
    assert re.search(r"chown 10001:10001 /var/lib/namespace-ctl\b", runs)
    assert final.all("WORKDIR")[-1] == "/var/lib/namespace-ctl"


def test_dockerignore_keeps_the_context_to_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allowlist: everything out, then what the build needs back in"
    kept = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert kept == {"pyproject.toml", "README.md", "core", "bot"}
    assert "**/__pycache__" in lines and "**/*.db" in lines


def test_make_image_tags_the_projects_version() -> None:
    if shutil.which("make") is None:
        pytest.fail("make is not installed: the Makefile's `image` target cannot be checked")
    # Run under `make test`, a nested make would print "Entering directory" lines: a clean env.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "image"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert dry.returncode == 0, dry.stderr
    command = dry.stdout.strip().splitlines()[-1]
    assert command.startswith("docker build ")
    assert f"-t namespace-ctl:{version()} " in command and command.endswith(" .")
    assert f"--build-arg VERSION={version()}" in command
