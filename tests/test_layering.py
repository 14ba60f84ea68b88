"""The layering rule that keeps every stage in its room (docs/design.md):

    svi  <  scoring  <  toyworld          the method, then what scores it, then the world that feeds both
    reports                               tables and statistics: scoring's metric table, no torch
    harness  <  sweeps  <  cli            the engine, the sweeps on it, the `harness` command on top
    benchmarks                            scripts only: nothing imports it (tests may)

A package may import itself and what is below it, never what is above it; and no two modules import
each other, directly or around a circle. Inside `harness/` the rooms form a ladder of their own
(HARNESS_LADDER: base < tracking < declare < run) that nothing climbs. Imports are read from the
source (every `import` and `from` statement, function-local ones included), so the rule holds whether
or not a line runs; imports under `if TYPE_CHECKING:` are annotations only, never executed, and are
left out.

Three rules on outside engines sit beside it (MLFLOW_MAY, PROCESSES_MAY, NOT_IN_SVI below), each with a
planted import that must fail it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "svi": {"svi"},
    "scoring": {"svi", "scoring"},
    "toyworld": {"svi", "scoring", "toyworld"},
    "reports": {"scoring", "reports"},
    "harness": {"svi", "scoring", "toyworld", "reports", "harness"},
    "sweeps": {"svi", "scoring", "toyworld", "reports", "harness", "sweeps"},
    "cli": {"svi", "scoring", "toyworld", "reports", "harness", "sweeps", "cli"},
    "benchmarks": {"svi", "scoring", "toyworld", "reports", "harness", "sweeps", "cli", "benchmarks"},
}
# harness/'s rooms, lowest first: a room imports its own modules and those of the rooms below it
HARNESS_LADDER = ("harness.base", "harness.tracking", "harness.declare", "harness.run")


def modules() -> dict[str, Path]:
    """module name -> file, for every module of the project's packages."""
    out = {}
    for package in ALLOWED:
        for f in sorted((ROOT / package).rglob("*.py")):
            parts = f.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under an `if TYPE_CHECKING:` block."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def import_statements(path: Path) -> list[tuple[str, ...]]:
    """Each import of a file as the names it may load: `import a.b` -> (a.b,); `from a.b import c, d`
    -> (a.b, a.b.c, a.b.d); function-local ones included, annotation-only ones left out."""
    out = []
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name,) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, *(f"{node.module}.{a.name}" for a in node.names)))
    return out


def external_imports(path: Path) -> set[str]:
    """Every module name a file imports, as written (`import a.b` -> a.b; `from a.b import c` -> a.b and
    a.b.c)."""
    return {name for statement in import_statements(path) for name in statement}


def _owner(name: str, known: set[str]) -> str:
    """The project module `name` lies in ('' outside the project)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules a file imports. `from package import module` counts as the module alone;
    the package counts too when a name imported from it is not a module (its __init__ runs for it)."""
    found = set()
    for module, *names in import_statements(path):
        inner = {n for n in names if n in known}
        found |= inner
        if not names or len(inner) < len(names):
            found.add(_owner(module, known))
    return found - {""}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    edges = {}
    for name, path in mods.items():
        # a submodule importing from its own package's __init__ is an edge too: with an __init__ that
        # imports the submodule back (lazily or not) it is a circle
        edges[name] = {m for m in imports_of(path, known) if m != name}
    return edges


def allowed(src: str) -> set[str]:
    return ALLOWED[src.split(".")[0]]


def room(module: str) -> int | None:
    """The rung of a harness module on HARNESS_LADDER; None outside harness/ (or for harness/__init__)."""
    return next((i for i, r in enumerate(HARNESS_LADDER) if module == r or module.startswith(r + ".")), None)


def ladder_climbs(edges: dict[str, set[str]]) -> list[str]:
    """Imports from a harness room into a room above it."""
    return [
        f"{src} imports {dst}"
        for src, targets in edges.items()
        for dst in targets
        if room(src) is not None and room(dst) is not None and room(dst) > room(src)
    ]


def test_no_package_imports_one_above_it():
    climbs = [
        f"{src} imports {dst}"
        for src, targets in graph().items()
        for dst in targets
        if dst.split(".")[0] not in allowed(src)
    ]
    assert not climbs, "imports that climb the layers:\n" + "\n".join(sorted(climbs))


def test_harness_rooms_keep_to_their_ladder():
    climbs = ladder_climbs(graph())
    assert not climbs, "harness/ imports that climb its ladder:\n" + "\n".join(sorted(climbs))


def test_every_harness_module_has_a_room():
    """harness/ holds its rooms and its package file, nothing loose."""
    loose = [m for m in modules() if m.startswith("harness.") and room(m) is None]
    assert not loose, loose


@pytest.mark.parametrize(
    "src, dst",
    [
        ("harness.base.planted", "harness.tracking.client"),
        ("harness.tracking.planted", "harness.declare.plan"),
        ("harness.declare.planted", "harness.run.pipeline"),
    ],
)
def test_the_ladder_can_fail(src, dst):
    assert ladder_climbs({src: {dst}}) == [f"{src} imports {dst}"]


def test_nothing_but_tests_imports_benchmarks():
    users = [
        f"{s} imports {d}"
        for s, ts in graph().items()
        for d in ts
        if d.startswith("benchmarks") and not s.startswith("benchmarks")
    ]
    assert not users


def test_no_import_circle():
    edges = graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not circles, "modules that import each other around a circle:\n" + "\n".join(map(str, circles))


# Who may use which outside engine (docs/design.md): the method never knows about tracking or sweeps;
# one package talks to MLflow; only the runners start processes.
MLFLOW = ("mlflow",)
MLFLOW_MAY = ("harness.tracking",)
PROCESSES = (
    "subprocess",
    "multiprocessing",
    "submitit",
    "torch.multiprocessing",
    "concurrent.futures.process",
)
PROCESSES_MAY = (
    "harness.run.launch",
    "harness.run.jobs",
    "harness.base.git",
    "sweeps",
)  # git: asked, and answered
NOT_IN_SVI = ("mlflow", "optuna", "harness", "sweeps")


def _uses(names: set[str], packages: tuple[str, ...]) -> set[str]:
    return {n for n in names for p in packages if n == p or n.startswith(p + ".")}


def _inside(module: str, owners: tuple[str, ...]) -> bool:
    return any(module == o or module.startswith(o + ".") for o in owners)


def rule_breaks(files: dict[str, Path]) -> list[str]:
    """What breaks the three engine rules among `files` (module -> path)."""
    out = []
    for module, path in files.items():
        if module.split(".")[0] == "benchmarks":
            continue  # scripts that measure: they may use anything (docs/design.md)
        names = external_imports(path)
        if _uses(names, MLFLOW) and not _inside(module, MLFLOW_MAY):
            out.append(f"{module} talks to MLflow (only {', '.join(MLFLOW_MAY)} may)")
        if _uses(names, PROCESSES) and not _inside(module, PROCESSES_MAY):
            out.append(f"{module} starts processes (only {', '.join(PROCESSES_MAY)} may)")
        if module.split(".")[0] == "svi" and _uses(names, NOT_IN_SVI):
            out.append(f"{module} imports {sorted(_uses(names, NOT_IN_SVI))}: svi/ is the method alone")
    return out


def test_mlflow_processes_and_the_method_keep_to_their_rooms():
    breaks = rule_breaks(modules())
    assert not breaks, "\n".join(breaks)


@pytest.mark.parametrize(
    "module, planted, rule",
    [
        ("scoring.planted", "import mlflow\n", "talks to MLflow"),
        ("harness.pipeline_planted", "from mlflow.tracking import MlflowClient\n", "talks to MLflow"),
        ("reports.planted", "def f():\n    import subprocess\n", "starts processes"),
        (
            "harness.plan_planted",
            "from concurrent.futures.process import ProcessPoolExecutor\n",
            "starts processes",
        ),
        ("svi.planted", "import optuna\n", "svi/ is the method alone"),
        ("svi.training.planted", "from harness import workspace\n", "svi/ is the method alone"),
    ],
)
def test_each_engine_rule_can_fail(module, planted, rule, tmp_path):
    path = tmp_path / "planted.py"
    path.write_text(planted)
    assert any(rule in b for b in rule_breaks({module: path}))


def test_every_file_name_says_its_job_once():
    """No module file name in two packages for two jobs (package __init__/__main__ and tests aside)."""
    seen: dict[str, list[str]] = {}
    for name, path in modules().items():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        seen.setdefault(path.name, []).append(name)
    clashes = {k: v for k, v in seen.items() if len(v) > 1}
    assert not clashes, clashes


@pytest.mark.parametrize("package", ["svi", "scoring", "toyworld", "reports", "harness", "sweeps", "cli"])
def test_the_rule_can_fail(package, tmp_path):
    """The checks see what they should: an import planted one layer up is found as a climb."""
    above = {
        "svi": "harness",
        "scoring": "toyworld",
        "toyworld": "harness",
        "reports": "harness",
        "harness": "sweeps",
        "sweeps": "cli",
        "cli": "benchmarks",
    }[package]
    planted = tmp_path / "planted.py"
    planted.write_text(f"from {above} import something\n")
    found = imports_of(planted, set(modules()) | {above})
    assert any(m.split(".")[0] not in ALLOWED[package] for m in found)


def test_a_name_from_a_package_init_is_an_edge_to_it(tmp_path):
    """`from pkg import helper` (a function of pkg/__init__.py) makes pkg an import, so an __init__
    that lazily imports the module back is a circle; `from pkg import module` does not."""
    known = {"svi.generation.strategies", "svi.generation.strategies.framepack"}
    planted = tmp_path / "planted.py"
    planted.write_text("from svi.generation.strategies import required_clips\n")
    assert imports_of(planted, known) == {"svi.generation.strategies"}
    planted.write_text("from svi.generation.strategies import framepack\n")
    assert imports_of(planted, known) == {"svi.generation.strategies.framepack"}
