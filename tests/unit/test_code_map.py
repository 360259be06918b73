"""The README's code map names every module of the product, so that a newcomer finds each one there."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _code_map() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Code map")
    return readme[start : readme.index("\n## ", start + 1)]


def _emulation_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### What the emulation adds to moto")
    return readme[start : readme.index("\n## ", start + 1)]


def _modules() -> list[Path]:
    found = [
        *(ROOT / "layers" / "replicator" / "replicator").rglob("*.py"),
        *(ROOT / "src" / "replicator_cli").glob("*.py"),
        *(ROOT / "src" / "replicator_cli" / "local").glob("*.py"),
    ]
    return sorted(p for p in found if p.name != "__init__.py")


def test_every_module_function_and_state_machine_is_in_the_code_map():
    text = _code_map()
    missing = [str(p.relative_to(ROOT)) for p in _modules() if f"`{p.name}`" not in text]
    missing += [d.name for d in sorted((ROOT / "functions").iterdir()) if d.is_dir() and f"`{d.name}`" not in text]
    missing += [p.name for p in sorted((ROOT / "statemachine").glob("*.json")) if f"`{p.name}`" not in text]
    assert missing == []


def test_every_double_of_the_emulation_is_in_the_readme():
    text = _emulation_section()
    modules = sorted((ROOT / "src" / "replicator_cli" / "local" / "doubles").glob("*.py"))
    assert [p.name for p in modules if not p.name.startswith("_") and f"`{p.name}`" not in text] == []
