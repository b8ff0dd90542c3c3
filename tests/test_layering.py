"""The layering the next engineer relies on, read from the source with `ast`: imports inside functions
count as much as those at the top of a module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Modules that may import the face pipeline besides the bridge, and why.
PIPELINE_IMPORTERS_ALLOWED = {
    # The bridge itself.
    "matching.reading": "the one bridge",
    # The calibration commands read the face set with pipelines under descriptors, alignments and
    # schedules other than the server's: that is what they measure.
    "matching.management.pipeline_options": "reads photos under other configurations",
    "matching.management.commands.measure_robustness": "measures other configurations",
}
# Whole trees that may: they measure or test the pipeline itself, outside any request.
PIPELINE_IMPORTER_TREES_ALLOWED = ("bench", "tests")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, modules: set[str] | None = None) -> set[str]:
    """Every module `path` imports, anywhere in it, relative imports resolved. `from a import b` is an
    import of the module `a.b` when `modules` holds it, else of `a` (`b` is a name defined there)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                origin = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                found.add(submodule if modules is None or submodule in modules else origin)
            if modules is None:
                found.add(origin)
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


APP_TREES = ("credentials", "enrollment", "matching")
GROUND_FLOOR = "facenition"


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports, over the ground floor and the apps."""
    paths = python_files(GROUND_FLOOR, *APP_TREES)
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules) & modules for path in paths}


def test_the_ground_floor_imports_no_app():
    upward = {
        module: sorted(target for target in targets if target.split(".")[0] in APP_TREES)
        for module, targets in import_graph().items()
        if module.split(".")[0] == GROUND_FLOOR
    }
    assert not {module: targets for module, targets in upward.items() if targets}


def test_no_two_modules_import_each_other_even_through_others():
    graph = import_graph()
    circles, done, path = [], set(), []

    def visit(module: str) -> None:
        if module in path:
            circles.append(path[path.index(module) :] + [module])
            return
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not circles, "\n".join(" → ".join(circle) for circle in circles)


def test_no_management_command_imports_another():
    commands = [path for path in python_files(*APP_TREES) if path.parent.name == "commands"]
    names = {module_name(path) for path in commands}
    reaching = {
        module_name(path): sorted(imported_modules(path, names) & names - {module_name(path)}) for path in commands
    }
    assert not {command: others for command, others in reaching.items() if others}
