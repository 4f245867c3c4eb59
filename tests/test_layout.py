"""The installed import names: everything under `alerter`, nothing claiming `rules`, `collectors` or
`core`; and the direction of imports between those folders.

The top-level folders `rules/` and `collectors/` stay where DESIGN puts them, beside `core/`, what
they share; `alerter/rules`, `alerter/collectors` and `alerter/core` are symlinks to them, so the
wheel, the editable install, mypy and pytest all see one name per module: `alerter.rules.engine`,
`alerter.collectors.file`, `alerter.core.events`.
"""

import ast
import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_distribution_installs_one_top_level_package() -> None:
    top = importlib.metadata.distribution("alerter").read_text("top_level.txt") or ""
    assert top.split() == ["alerter"]


def test_the_folders_are_importable_under_alerter() -> None:
    import alerter.collectors.file
    import alerter.rules.engine

    assert Path(alerter.rules.engine.__file__).resolve() == ROOT / "rules" / "engine.py"
    assert Path(alerter.collectors.file.__file__).resolve() == ROOT / "collectors" / "file.py"


def imports(folder: str) -> Iterator[tuple[str, str]]:
    """("file:line", module) of every absolute import under `folder`, those inside functions
    and under TYPE_CHECKING included."""
    for p in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                yield f"{p.relative_to(ROOT)}:{node.lineno}", n


def test_no_source_imports_the_old_top_level_names() -> None:
    bad = [
        f"{where}: {n}"
        for d in ("alerter", "rules", "collectors", "core", "tests", "bench")
        for where, n in imports(d)
        if n.split(".")[0] in ("rules", "collectors", "core")
    ]
    assert bad == []


# the folders each top-level folder may import from (STYLE: the data flows one way)
MAY_IMPORT = {
    "core": ("alerter.core",),
    "rules": ("alerter.rules", "alerter.core"),
    "collectors": ("alerter.collectors", "alerter.core"),
}


def test_imports_follow_the_data_flow() -> None:
    """rules/ and collectors/ import only themselves and core/; core/ only itself. Imports
    inside functions and under TYPE_CHECKING count too: each still ties the folders."""
    bad = [
        f"{where}: {n}"
        for folder, allowed in MAY_IMPORT.items()
        for where, n in imports(folder)
        if n.split(".")[0] == "alerter"
        and not any(n == a or n.startswith(a + ".") for a in allowed)
    ]
    assert bad == []


def test_the_shared_folder_is_importable_under_alerter() -> None:
    import alerter.core.events

    assert Path(alerter.core.events.__file__).resolve() == ROOT / "core" / "events.py"
