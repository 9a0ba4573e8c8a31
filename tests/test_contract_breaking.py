"""The contract cannot break by accident: `make breaking` (tools/contract_breaking.py) run on a
fresh `git clone` of this repository, as CI would, before and after incompatible edits of the
contract, with and without the changelog entry that makes a break deliberate. Also: the buf
module declares its LiveKit dependency at the version the Makefile pins."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SERVICE = "protos/showrunner/v1/show_service.proto"
CHANGELOG = "protos/README.md"


def buf_binary() -> str:
    path = os.environ.get("BUF_BIN", "")
    if not path or not Path(path).is_file():
        raise RuntimeError(f"buf not found at BUF_BIN={path!r}; run the tests through `make test` (it builds buf)")
    return path


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone with full history of what is committed here, plus the workspace's fetched
    modules (LiveKit's protos and the like, under build/, never committed)."""
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)], check=True)
    for module in re.findall(r"^\s*-\s*path:\s*(build/\S+)\s*$", (ROOT / "buf.yaml").read_text(), re.M):
        shutil.copytree(ROOT / module, target / module)
    return target


def breaking(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(ROOT / ".venv/bin/python"),
            str(ROOT / "tools/contract_breaking.py"),
            "--buf",
            buf_binary(),
            "--repo",
            str(repo),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def edit(repo: Path, path: str, old: str, new: str) -> None:
    file = repo / path
    text = file.read_text()
    assert old in text, f"{old!r} not in {path}"
    file.write_text(text.replace(old, new, 1))


def record_break(repo: Path, entry: str) -> None:
    text = (repo / CHANGELOG).read_text()
    first = re.search(r"^- \*\*", text, re.M)
    assert first is not None
    (repo / CHANGELOG).write_text(text[: first.start()] + entry + "\n" + text[first.start() :])


def test_the_committed_contract_passes_on_a_fresh_clone(clone: Path) -> None:
    result = breaking(clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "against the changelog baseline" in result.stdout
    assert "no unrecorded incompatible change" in result.stdout


def test_removing_a_field_fails_until_the_changelog_records_it(clone: Path) -> None:
    edit(clone, SERVICE, "  string sid = 2;\n", "")  # Room.sid goes away
    result = breaking(clone)
    assert result.returncode == 1, result.stdout
    assert re.search(r"BREAKING .*show_service\.proto:\d+: FIELD_NO_DELETE: .*\"sid\"", result.stdout), result.stdout

    # An entry for another rule does not let this one through ...
    record_break(clone, "- **breaking** `FIELD_SAME_TYPE`: something else entirely.")
    assert breaking(clone).returncode == 1

    # ... an entry naming the rule does: the break is deliberate and said so.
    record_break(clone, "- **breaking** `FIELD_NO_DELETE`: `Room.sid` is gone; use `Room.name`.")
    result = breaking(clone)
    assert result.returncode == 0, result.stdout
    assert re.search(r"recorded .*FIELD_NO_DELETE", result.stdout), result.stdout


def test_renumbering_a_field_fails(clone: Path) -> None:
    edit(clone, SERVICE, "  uint32 guest_limit = 7;\n", "  uint32 guest_limit = 99;\n")
    result = breaking(clone)
    assert result.returncode == 1, result.stdout
    assert "BREAKING" in result.stdout and "guest_limit" in result.stdout, result.stdout


def test_a_branch_is_held_against_the_main_it_leaves(clone: Path) -> None:
    """A break committed on main after the baseline, with its changelog entry, is fine on main;
    a branch from there that breaks the same rule again is caught by the comparison with main,
    because the changelog had that entry already when the branch left."""
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", "-B", "main"], check=True)
    edit(clone, SERVICE, "  string sid = 2;\n", "")
    record_break(clone, "- **breaking** `FIELD_NO_DELETE`: `Room.sid` is gone.")
    commit(clone, "Remove Room.sid, deliberately")
    subprocess.run(["git", "-C", str(clone), "update-ref", "refs/remotes/origin/main", "HEAD"], check=True)
    on_main = breaking(clone)
    assert on_main.returncode == 0, on_main.stdout
    assert "on the main branch itself" in on_main.stdout

    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", "-b", "feature"], check=True)
    edit(clone, SERVICE, "  uint32 num_participants = 3;\n", "")
    commit(clone, "Remove Room.num_participants")
    result = breaking(clone)
    assert result.returncode == 1, result.stdout
    assert re.search(r"against the main branch .*\n(.*\n)*.*BREAKING .*num_participants", result.stdout), result.stdout


def commit(repo: Path, message: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "-C", str(repo), "commit", "--quiet", "-am", message], check=True, env=env)


def test_an_unknown_baseline_is_a_clear_failure(clone: Path) -> None:
    newest = re.search(r"- \*\*baseline\*\* `([0-9a-f]+)`", (clone / CHANGELOG).read_text())
    assert newest is not None
    edit(clone, CHANGELOG, f"- **baseline** `{newest.group(1)}`", "- **baseline** `0000000`")
    result = breaking(clone)
    assert result.returncode == 2
    assert "not in this clone's history" in result.stdout


def test_the_buf_module_declares_livekit_at_the_pinned_version() -> None:
    pinned = re.search(r"^PROTOCOL_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert pinned is not None
    buf_yaml = (ROOT / "buf.yaml").read_text()
    assert "name: buf.build/showrunner/showrunner" in buf_yaml
    assert f"  - buf.build/showrunner/livekit-protocol:{pinned.group(1)}\n" in buf_yaml
    assert f"github.com/livekit/protocol {pinned.group(1)}" in (ROOT / CHANGELOG).read_text()


def test_every_contract_file_names_its_go_package() -> None:
    """Go consumers (and clients/go) import the contract by the path each file declares."""
    for proto in sorted((ROOT / "protos/showrunner/v1").glob("*.proto")):
        assert (
            'option go_package = "github.com/showrunner/showrunner/clients/go/showrunner/v1;showrunnerv1";'
            in proto.read_text()
        ), f"{proto.name} needs the contract's go_package option"
