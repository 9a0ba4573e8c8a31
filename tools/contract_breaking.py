"""`make breaking`: the contract cannot break by accident.

Runs `buf breaking` on the working tree's protos/ against earlier versions of the contract:

- the **baseline**: the commit named by the newest `**baseline**` entry of the "Contract
  changelog" in protos/README.md: the version consumers were promised; and
- the **main branch**: `git merge-base HEAD origin/main` (or `main`), when that is not HEAD
  itself, so a branch is held against the main it will merge into. (On a fresh clone of main
  the two are the same commit and only the baseline applies.)

An incompatible change fails the check unless the changelog records it deliberately: an entry
`**breaking**` naming buf's rule ids in backquotes (`FIELD_NO_DELETE`, ...) that the changelog
did not have at the version compared against. A break of any other rule still fails.

Each version is rebuilt from git (`git archive`) beside the same LiveKit protos the working
tree uses (build/, fetched by `make livekit-protos`), so the check works offline and on any
clone with full history.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

CONTRACT_MODULE = "protos"
CHANGELOG_FILE = "protos/README.md"
CHANGELOG_HEADING = "## Contract changelog"
BASELINE = re.compile(r"^- \*\*baseline\*\* `([0-9a-f]{7,40})`")
BREAKING = re.compile(r"^- \*\*breaking\*\*")
RULE_ID = re.compile(r"`([A-Z][A-Z0-9_]+)`")
MODULE_PATH = re.compile(r"^\s*-\s*path:\s*(\S+)\s*$", re.M)
MAIN_REFS = ("origin/main", "main")


@dataclass(frozen=True)
class Break:
    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


def changelog_entries(readme: str) -> list[str]:
    """The changelog's entries, newest first, one string per entry (continuation lines joined)."""
    entries: list[str] = []
    inside = False
    for line in readme.splitlines():
        if line.startswith("## "):
            inside = line.strip() == CHANGELOG_HEADING
            continue
        if not inside:
            continue
        if line.startswith("- "):
            entries.append(line.strip())
        elif line.startswith("  ") and entries and line.strip():
            entries[-1] += " " + line.strip()
    return entries


def excused_rules(entries: list[str]) -> set[str]:
    return {rule for entry in entries if BREAKING.match(entry) for rule in RULE_ID.findall(entry)}


def baseline_commit(entries: list[str]) -> str | None:
    for entry in entries:
        found = BASELINE.match(entry)
        if found:
            return found.group(1)
    return None


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise LookupError(done.stderr.decode().strip() or f"git {' '.join(args)} failed")
    return done.stdout.decode().strip()


def git_bytes(repo: Path, *args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise LookupError(done.stderr.decode().strip())
    return done.stdout


def main_branch_base(repo: Path) -> str | None:
    """Where HEAD left the main branch, unless HEAD is on it (then it compares with itself)."""
    head = git(repo, "rev-parse", "HEAD")
    for ref in MAIN_REFS:
        try:
            git(repo, "rev-parse", "--verify", "--quiet", ref + "^{commit}")
        except LookupError:
            continue
        base = git(repo, "merge-base", "HEAD", ref)
        return None if base == head else base
    return None


def materialise(repo: Path, commit: str, into: Path) -> None:
    """The contract as of `commit`: its protos/ and buf.yaml from git, and the untracked module
    directories its buf.yaml names (LiveKit's protos) from the working tree."""
    archive = git_bytes(repo, "archive", "--format=tar", commit, "protos", "buf.yaml")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    for module in MODULE_PATH.findall((into / "buf.yaml").read_text()):
        if not (into / module).exists():
            if not (repo / module).is_dir():
                raise LookupError(f"{module} (named by buf.yaml at {commit}) is missing: run `make livekit-protos`")
            shutil.copytree(repo / module, into / module)


def breaks(buf: str, repo: Path, against: Path) -> list[Break]:
    done = subprocess.run(
        # The contract's module alone, so that the two workspaces may hold different modules
        # (a workspace that gains one is no break of the contract).
        [buf, "breaking", CONTRACT_MODULE, "--against", str(against / CONTRACT_MODULE), "--error-format=json"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    found = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 and not found:
        raise LookupError(f"buf breaking failed: {done.stderr.strip() or done.stdout.strip()}")
    return [Break(f["path"], int(f.get("start_line", 0)), f["type"], f["message"]) for f in found]


def check(buf: str, repo: Path) -> int:
    current = changelog_entries((repo / CHANGELOG_FILE).read_text())
    baselines: list[tuple[str, str]] = []
    recorded = baseline_commit(current)
    if recorded is None:
        print(f"contract: {CHANGELOG_FILE} records no **baseline** commit in its {CHANGELOG_HEADING!r}")
        return 2
    baselines.append(("changelog baseline", recorded))
    base = main_branch_base(repo)
    if base is not None and not base.startswith(recorded):
        baselines.append(("main branch (merge-base)", base))
    elif base is None:
        print("contract: on the main branch itself: only the changelog baseline applies")

    failed = False
    for label, ref in baselines:
        try:
            commit = git(repo, "rev-parse", "--verify", ref + "^{commit}")
        except LookupError:
            print(f"contract: {label} {ref} is not in this clone's history (a shallow clone? git fetch --unshallow)")
            return 2
        try:
            then = changelog_entries(git(repo, "show", f"{commit}:{CHANGELOG_FILE}"))
        except LookupError:
            then = []  # the changelog did not exist yet: every entry is newer than that version
        excused = excused_rules([e for e in current if e not in then])
        with tempfile.TemporaryDirectory(prefix="contract-") as scratch:
            materialise(repo, commit, Path(scratch))
            found = breaks(buf, repo, Path(scratch))
        accidental = [b for b in found if b.rule not in excused]
        deliberate = [b for b in found if b.rule in excused]
        print(
            f"contract: against the {label} {commit[:12]}: {len(found)} incompatible change(s), "
            f"{len(deliberate)} recorded in the changelog"
        )
        for b in deliberate:
            print(f"  recorded  {b}")
        for b in accidental:
            print(f"  BREAKING  {b}")
        failed = failed or bool(accidental)
    if failed:
        print(
            "contract: incompatible change(s) not recorded. Keep the contract compatible, or record the break "
            f"deliberately: a '- **breaking** `RULE_ID`: what and why' entry in {CHANGELOG_FILE}'s changelog."
        )
        return 1
    print("contract: no unrecorded incompatible change")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/contract_breaking.py", description=__doc__)
    parser.add_argument("--buf", required=True, help="the buf binary")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the git work tree to check")
    args = parser.parse_args(argv)
    try:
        return check(args.buf, args.repo.resolve())
    except LookupError as exc:
        print(f"contract: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
