"""The import arrows of DESIGN.md, checked on the source (AST), so a wrong import fails CI."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"sync", "models", "edge", "server", "mobile_client", "tools"}
TENSORFLOW = {"tensorflow", "keras", "tf_keras"}


def imports_of(path: Path) -> set[str]:
    """Dotted names imported by a module (absolute imports; relative ones are resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = path.relative_to(ROOT).parent.parts
                base = package[: len(package) - node.level + 1]
                names.add(".".join([*base, node.module or ""]).rstrip("."))
            elif node.module:
                names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".", 1)[0]


def is_training_module(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return (
        path.name in {"export.py", "train_common.py"}
        or path.name.startswith("train")
        or rel.startswith("models/evaluation/")
    )


def test_sync_imports_nothing_of_ours_and_only_msgspec_from_outside():
    allowed_third_party = {"msgspec"}
    stdlib = sys.stdlib_module_names
    for path in modules("sync"):
        for name in imports_of(path):
            root = top(name)
            if root == "sync":
                continue
            assert root not in OURS, f"{path}: sync must not import {name}"
            assert root in stdlib or root in allowed_third_party, f"{path}: imports {name}"


def test_models_never_imports_edge_server_client_or_tools():
    for path in modules("models"):
        for name in imports_of(path):
            assert top(name) not in {"edge", "server", "mobile_client", "tools"}, (
                f"{path}: imports {name}"
            )


def test_tensorflow_only_in_training_and_export_modules():
    for package in ("sync", "models", "edge", "mobile_client"):
        for path in modules(package):
            if package == "models" and is_training_module(path):
                continue
            found = {n for n in imports_of(path) if top(n) in TENSORFLOW}
            assert not found, f"{path}: imports {found} on the device path"


def test_edge_never_imports_server_tools_or_model_training():
    for path in modules("edge"):
        for name in imports_of(path):
            assert top(name) not in {"server", "tools", "mobile_client"}, f"{path}: {name}"
            if top(name) == "models":
                target = ROOT / (name.replace(".", "/") + ".py")
                if target.exists():
                    assert not is_training_module(target), f"{path}: imports {name}"


def test_mobile_client_uses_only_the_edge_runtime():
    for path in modules("mobile_client"):
        for name in imports_of(path):
            if top(name) == "edge":  # the runtime, its errors, and the pure percentile helper
                allowed = {"edge", "edge.runtime", "edge.errors", "edge.latency"}
                assert name in allowed, f"{path}: imports {name}"
            assert top(name) not in {"server", "tools", "models"}, f"{path}: imports {name}"


def test_nothing_imports_tools():
    for package in OURS - {"tools"}:
        for path in modules(package):
            assert not any(top(n) == "tools" for n in imports_of(path)), path


def test_the_checker_sees_a_forbidden_import(tmp_path):
    """The checks above can fail: a module importing server from edge is caught."""
    bad = ROOT / "edge" / "_arch_probe_tmp.py"
    bad.write_text("from server import app\n")
    try:
        with pytest.raises(AssertionError, match="server"):
            test_edge_never_imports_server_tools_or_model_training()
    finally:
        bad.unlink()


BLOCK_TF = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "keras"}:
            raise ImportError(f"{name} is blocked: the device has no TensorFlow")
sys.meta_path.insert(0, Block())
"""


def test_the_device_path_runs_with_tensorflow_unimportable(tmp_path):
    script = (
        BLOCK_TF
        + f"""
import asyncio
from edge.runtime import EdgeRuntime
from sync.codec import Format, encode_batch
from tests.factories import small_world
async def main():
    async with await EdgeRuntime.open({str(tmp_path / "d.db")!r}) as rt:
        await rt.ingest(encode_batch(small_world(2, 3), Format.MSGPACK))
        print((await rt.counts()).events)
asyncio.run(main())
try:
    import tensorflow
except ImportError:
    print("tensorflow blocked")
assert not any(m.split(".")[0] in {{"tensorflow", "keras"}} for m in sys.modules)
"""
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["6", "tensorflow", "blocked"]


# --- the extras match the imports --------------------------------------------------------

OPTIONAL = {"ai_edge_litert"}  # loaded only when installed (models/tflite.py)


def extra(name: str) -> set[str]:
    """Distribution names (normalized) that an install of ``realty-edge[name]`` asks for."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] if name == "base" else project["optional-dependencies"][name]
    out: set[str] = set()
    for spec in wanted:
        req = Requirement(spec)
        if req.name == "realty-edge":
            for inner in req.extras:
                out |= extra(inner)
        else:
            out.add(req.name.lower().replace("_", "-"))
    return out if name == "base" else out | extra("base")


def third_party_imports(paths: list[Path]) -> dict[str, Path]:
    stdlib = sys.stdlib_module_names
    found: dict[str, Path] = {}
    for path in paths:
        for name in imports_of(path):
            if top(name) not in stdlib and top(name) not in OURS | OPTIONAL:
                found.setdefault(top(name), path)
    return found


def undeclared(paths: list[Path], extra_name: str) -> list[str]:
    """Imports on ``paths`` whose distribution the extra does not declare."""
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    declared = extra(extra_name)
    missing = []
    for module, path in third_party_imports(paths).items():
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if not names & declared:
            missing.append(f"{path.relative_to(ROOT)} imports {module} ({', '.join(names)})")
    return missing


def module_file(name: str) -> Path | None:
    base = ROOT / name.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def reachable(start: list[Path]) -> list[Path]:
    """``start`` and every module of ours they import, transitively (the code that runs)."""
    seen: set[Path] = set()
    todo = list(start)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] in OURS:
                for i in range(1, len(parts) + 1):  # the package __init__ files run too
                    if found := module_file(".".join(parts[:i])):
                        todo.append(found)
    return sorted(seen)


def phone_modules() -> list[Path]:
    return reachable(modules("edge"))


def test_the_phone_extra_declares_everything_the_device_path_imports():
    assert undeclared(phone_modules(), "edge") == []
    assert undeclared(reachable(modules("mobile_client")), "client") == []


def test_the_phone_extra_never_pulls_in_training_libraries():
    assert not extra("edge") & {"tensorflow-cpu", "keras", "scikit-learn", "pandas", "matplotlib"}
    assert {"tensorflow-cpu", "scikit-learn", "pandas"} <= extra("train") <= extra("server")


def test_the_extras_check_sees_an_undeclared_import():
    bad = ROOT / "edge" / "_extras_probe_tmp.py"
    bad.write_text("import pandas\n")
    try:
        assert any("pandas" in line for line in undeclared(modules("edge"), "edge"))
    finally:
        bad.unlink()


# --- EdgeRuntime is the only door into the device ------------------------------------------

INTERNALS = {"store", "analyst", "models"}
PRIVATE_INTERNALS = {f"_{name}" for name in INTERNALS}
RUNTIME_NAME = re.compile(r"^(rt|runtime|phone|device|replica)(_[a-z0-9]+|\d+)?$")


def outside_edge() -> list[Path]:
    """The modules that must use the device through EdgeRuntime's public methods."""
    packages = ("server", "tools", "mobile_client", "models", "sync")
    paths = [p for pkg in packages for p in modules(pkg)]
    return paths + [p for p in modules("tests") if p.relative_to(ROOT).parts[1] != "edge"]


def _is_runtime_type(node: ast.expr | None) -> bool:
    """An annotation naming EdgeRuntime (``EdgeRuntime``, ``EdgeRuntime | None``, a string)."""
    if node is None:
        return False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "EdgeRuntime" in node.value
    return any(
        (isinstance(n, ast.Name) and n.id == "EdgeRuntime")
        or (isinstance(n, ast.Attribute) and n.attr == "EdgeRuntime")
        for n in ast.walk(node)
    )


def _makes_runtime(node: ast.expr | None) -> bool:
    """``EdgeRuntime.open(...)``, ``EdgeRuntime(...)``, either awaited."""
    if isinstance(node, ast.Await):
        node = node.value
    if not isinstance(node, ast.Call):
        return False
    fn = node.func
    if isinstance(fn, ast.Attribute) and fn.attr == "open":
        fn = fn.value
    return (isinstance(fn, ast.Name) and fn.id == "EdgeRuntime") or (
        isinstance(fn, ast.Attribute) and fn.attr == "EdgeRuntime"
    )


def runtime_names(tree: ast.AST) -> set[str]:
    """Names the module binds to an EdgeRuntime: by annotation, or from EdgeRuntime.open."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and _is_runtime_type(node.annotation):
            names.add(node.arg)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if _is_runtime_type(node.annotation) or _makes_runtime(node.value):
                names.add(node.target.id)
        elif isinstance(node, ast.Assign) and _makes_runtime(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.withitem) and _makes_runtime(node.context_expr):
            target = node.optional_vars
            names.update([target.id] if isinstance(target, ast.Name) else [])
    return names


def _receiver_name(node: ast.expr) -> str | None:
    """The last name of an attribute's receiver: ``rt`` in ``rt.x``, ``runtime`` in
    ``client.bridge.runtime.x``; None for a call or a subscript."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _reach(node: ast.AST, bound: set[str]) -> str | None:
    """What ``node`` reaches into, if it reaches past a runtime."""
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            return None
        if node.attr in PRIVATE_INTERNALS:
            return f".{node.attr} on {ast.unparse(node.value)}"
        receiver = _receiver_name(node.value)
        named = receiver is not None and (receiver in bound or RUNTIME_NAME.match(receiver))
        if node.attr in INTERNALS and named:
            return f"{ast.unparse(node)} (a runtime's {node.attr})"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"getattr", "setattr", "delattr"}
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and node.args[1].value in PRIVATE_INTERNALS
    ):
        return f"{node.func.id}(..., {node.args[1].value!r})"
    return None


def reaches_into_a_runtime(path: Path) -> list[str]:
    """Where ``path`` reaches past EdgeRuntime into its store, analyst or models, by line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bound = runtime_names(tree)
    found = [
        (node.lineno, what)
        for node in ast.walk(tree)
        if (what := _reach(node, bound)) is not None and isinstance(node, ast.expr)
    ]
    return [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in sorted(found)]


def edge_runtime_public_internals() -> list[str]:
    """Public ``store``/``analyst``/``models`` that EdgeRuntime itself would offer."""
    tree = ast.parse((ROOT / "edge" / "runtime.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "EdgeRuntime")
    found = []
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name in INTERNALS | {"__getattr__", "__getattribute__"}:
                found.append(f"def {node.name}")
        elif isinstance(node, ast.Attribute) and node.attr in INTERNALS:
            found += [f"{ast.unparse(node)} ="] if isinstance(node.ctx, ast.Store) else []
    for stmt in cls.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        targets += [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        found += [f"{t.id} =" for t in targets if isinstance(t, ast.Name) and t.id in INTERNALS]
    return found


def test_edge_runtime_is_the_only_door_into_the_device():
    """Outside ``edge/`` nothing reaches past EdgeRuntime into its store, analyst or models.

    The rule, checked on the AST (sound for this codebase):

    1. EdgeRuntime offers no public ``store``, ``analyst`` or ``models`` (no ``self.store =``,
       no such method, property or class attribute, no ``__getattr__`` that could forward);
    2. outside ``edge/`` (server, tools, mobile_client, models, sync, and tests but
       tests/edge, which test edge itself), no attribute ``_store``, ``_analyst`` or
       ``_models`` is read or written on anything but ``self``/``cls``, nor through
       ``getattr``/``setattr``: with 1, that closes every way to a runtime's internals
       whatever the variable is called;
    3. and, so that a reintroduced public attribute is caught where it is used too,
       ``.store``/``.analyst``/``.models`` on a name bound to a runtime is refused: a name
       annotated ``EdgeRuntime``, bound from ``EdgeRuntime.open(...)``/``EdgeRuntime(...)``
       (assignment or ``async with ... as``), or named as runtimes are here (``rt``,
       ``runtime``, ``phone``, ``device``, ``replica``, with a suffix such as ``_a`` or
       ``2``; also the last part of ``client.bridge.runtime``). ``sync.store`` (the server's
       store) or ``self.models`` (the server's registry) are other objects and pass.
    """
    assert edge_runtime_public_internals() == []
    found = [line for path in outside_edge() for line in reaches_into_a_runtime(path)]
    assert found == [], "\n".join(found)


def test_the_door_check_sees_a_runtime_reached_into(tmp_path):
    """The check above can fail: each way in of the old code is caught."""
    probe = ROOT / "tools" / "_door_probe_tmp.py"
    probe.write_text(
        "from edge.runtime import EdgeRuntime\n"
        "async def f(path, client, x):\n"
        "    rt = await EdgeRuntime.open(path)\n"
        "    async with await EdgeRuntime.open(path) as a:\n"
        "        await a.store.put([])\n"
        "    await rt.store.put([])\n"
        "    rt.analyst.invalidate()\n"
        "    client.bridge.runtime.models.versions()\n"
        "    x._store.now_ms()\n"
        "    getattr(x, '_analyst')\n"
        "    def g(phone_b: EdgeRuntime, other):\n"
        "        return phone_b.models, other.store\n"
    )
    try:
        found = reaches_into_a_runtime(probe)
    finally:
        probe.unlink()
    assert [line.split(":")[1] for line in found] == ["5", "6", "7", "8", "9", "10", "12"], found
    assert not any("other.store" in line for line in found)


#: The first word of an SQL statement (as written here: keywords in capitals).
SQL_VERBS = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "PRAGMA", "BEGIN", "COMMIT", "ROLLBACK"}
    | {"SAVEPOINT", "RELEASE", "VACUUM", "REPLACE", "CREATE", "DROP", "ALTER"}
)
#: The modules of edge/ that may hold SQL: the statements, and the schema's DDL.
SQL_MODULES = {"edge/queries.py", "edge/migrations.py"}


def sql_literals(path: Path) -> list[str]:
    """String constants of ``path`` (parts of f-strings too) that start an SQL statement."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = node.value.lstrip("( \n").split(maxsplit=1)
            if words and words[0] in SQL_VERBS and (len(words) == 1 or words[1][:1] != "="):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    return found


def test_every_sql_statement_of_edge_is_in_edge_queries():
    found = [
        hit
        for path in modules("edge")
        if path.relative_to(ROOT).as_posix() not in SQL_MODULES
        for hit in sql_literals(path)
    ]
    assert found == [], "SQL outside edge/queries.py:\n" + "\n".join(found)


def test_the_sql_check_sees_a_statement_outside_edge_queries():
    bad = ROOT / "edge" / "_sql_probe_tmp.py"
    bad.write_text('SQL = f"SELECT id FROM {TABLE} WHERE x = ?"\nNOTE = "Select a lead"\n')
    try:
        hit = re.escape("_sql_probe_tmp.py:1: 'SELECT id FROM '")
        with pytest.raises(AssertionError, match=hit):
            test_every_sql_statement_of_edge_is_in_edge_queries()
    finally:
        bad.unlink()
