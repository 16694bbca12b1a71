"""The package's layering, read from the source with ``ast``: the platform imports no system, a
system imports no other system, and no module imports another module's private name.

``codesign.cli`` is the one composition root: it mounts each system's commands, so it alone may
import the systems.  Lazy imports inside functions count like any other.
"""

import ast
import sys
from pathlib import Path

import pytest

import codesign

ROOT = Path(codesign.__file__).resolve().parent
PLATFORM_PACKAGES = {"hdl", "eda", "nn"}  # sub-packages of the shared platform
COMPOSITION_ROOT = "codesign.cli"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
SYSTEMS = sorted(
    p.name
    for p in ROOT.iterdir()
    if (p / "__init__.py").is_file() and p.name not in PLATFORM_PACKAGES
)


def _system_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SYSTEMS else None


def _imports(module: str, path: Path):
    """(imported module, imported names, line) of every import in ``path``, resolved absolute."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [a.name for a in node.names], node.lineno


def _violations(modules: dict) -> list[str]:
    found = []
    for module, path in modules.items():
        own = _system_of(module)
        for target, names, line in _imports(module, path):
            if not target.startswith("codesign"):
                continue
            where = f"{module}:{line}"
            for name in names:
                full = f"{target}.{name}"
                system = _system_of(full if full in MODULES else target)
                if system and module != COMPOSITION_ROOT and system != own:
                    what = "the platform" if own is None else f"system '{own}'"
                    found.append(f"{where}: {what} imports system '{system}' ({full})")
                if (
                    name.startswith("_")
                    and not name.startswith("__")
                    and full not in MODULES
                    and target != module
                ):
                    found.append(f"{where}: imports the private name {name} of {target}")
            if not names:
                system = _system_of(target)
                if system and module != COMPOSITION_ROOT and system != own:
                    found.append(f"{where}: imports system '{system}' ({target})")
    return found


def test_there_is_a_platform_and_at_least_one_system():
    assert "spectral" in SYSTEMS
    assert {"codesign.artifacts", "codesign.flow", "codesign.eda.tools"} <= set(MODULES)


def test_layers_and_private_names():
    assert _violations(MODULES) == []


@pytest.mark.parametrize(
    "module, source, expected",
    [
        ("codesign.hdl.fake", "from codesign.spectral.fft import x", "the platform imports"),
        ("codesign.hdl.fake", "from ..spectral import model", "imports system 'spectral'"),
        ("codesign.hdl.fake", "from codesign.hdl.rom import _roms", "private name _roms"),
        ("codesign.fake", "import codesign.spectral.model", "imports system 'spectral'"),
        ("codesign.mlp.fake", "from ..spectral.hdl import fft", "system 'mlp' imports"),
    ],
)
def test_the_checker_sees_violations(tmp_path, monkeypatch, module, source, expected):
    monkeypatch.setattr(sys.modules[__name__], "SYSTEMS", [*SYSTEMS, "mlp"])
    path = tmp_path / "fake.py"
    path.write_text(source + "\n")
    found = _violations({module: path})
    assert any(expected in f for f in found), found
