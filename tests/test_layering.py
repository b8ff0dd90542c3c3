"""The layering the next engineer relies on, read from the source with `ast`: imports inside functions
count as much as those at the top of a module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Modules that may import the face pipeline besides the bridge, and why.
PIPELINE_IMPORTERS_ALLOWED = {
    # The bridge itself.
    "matching.reading": "the one bridge",
    # They build pipelines under descriptors, alignments and schedules other than the server's: that
    # is what they measure.
    "matching.management.commands.calibrate_match": "calibrates other configurations",
    "matching.management.commands.measure_robustness": "measures other configurations",
}
# Whole trees that may: they measure or test the pipeline itself, outside any request.
PIPELINE_IMPORTER_TREES_ALLOWED = ("bench", "tests")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it, relative imports resolved; `from a import b`
    counts as importing both `a` and `a.b` (b may be a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return found


def python_files(*trees: str) -> list[Path]:
    return sorted(path for tree in trees for path in (ROOT / tree).rglob("*.py"))


def test_it_reads_faces_through_one_bridge_only():
    trees = ("facenition", "credentials", "enrollment", "matching", *PIPELINE_IMPORTER_TREES_ALLOWED)
    importers = {
        module_name(path)
        for path in python_files(*trees)
        if not module_name(path).startswith("matching.pipeline")
        and any(m == "matching.pipeline" or m.startswith("matching.pipeline.") for m in imported_modules(path))
    }
    unexpected = {
        module
        for module in importers - PIPELINE_IMPORTERS_ALLOWED.keys()
        if module.split(".")[0] not in PIPELINE_IMPORTER_TREES_ALLOWED
    }
    assert not unexpected, f"import the pipeline through matching.reading: {sorted(unexpected)}"
    assert "matching.reading" in importers
