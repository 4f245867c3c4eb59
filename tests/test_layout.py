"""The installed import names: everything under `alerter`, nothing claiming `rules` or `collectors`.

The top-level folders `rules/` and `collectors/` stay where DESIGN puts them; `alerter/rules` and
`alerter/collectors` are symlinks to them, so the wheel, the editable install, mypy and pytest all
see one name per module: `alerter.rules.engine`, `alerter.collectors.file`.
"""

import ast
import importlib.metadata
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


def test_no_source_imports_the_old_top_level_names() -> None:
    bad = []
    for d in ("alerter", "rules", "collectors", "tests", "bench"):
        for p in (ROOT / d).rglob("*.py"):
            for node in ast.walk(ast.parse(p.read_text(), str(p))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                bad += [
                    f"{p.relative_to(ROOT)}:{node.lineno}: {n}"
                    for n in names
                    if n.split(".")[0] in ("rules", "collectors")
                ]
    assert bad == []
