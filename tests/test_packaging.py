"""The image installs only requirements.lock: the service must need nothing from the dev tools."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions

from tests.conftest import ROOT


def runtime_distributions() -> set[str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return {re.split(r"[=<>]", line)[0].strip().lower().replace("_", "-") for line in lines if "==" in line}


def imported_top_level_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_the_service_imports_only_runtime_dependencies() -> None:
    ours = {"service", "showrunner"}
    providers = packages_distributions()
    runtime = runtime_distributions()
    for module in sorted(imported_top_level_modules() - ours - set(sys.stdlib_module_names)):
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert dists & runtime, f"service imports {module} ({dists or 'unknown'}), which requirements.lock lacks"


def test_the_runtime_lock_pins_everything_exactly() -> None:
    lines = [
        line for line in (ROOT / "requirements.lock").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", line) for line in lines), lines
