"""environment.yml must name the same packages as pyproject.toml (core + dev), so conda users get the same kit."""

import re

import tomllib
import yaml

from labkit import PROJECT_ROOT


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(d) for d in dep["pip"] if not d.startswith("-e")}
        else:
            names.add(_name(dep))
    names -= {"python", "pip"}
    assert names - wanted == set(), "in environment.yml but not in pyproject.toml"
    assert wanted - names == set(), "in pyproject.toml but not in environment.yml"


def test_torch_is_pinned_to_the_cpu_wheel_everywhere():
    env = (PROJECT_ROOT / "environment.yml").read_text()
    assert "torch==2.13.0" in env
    assert "torch==2.13.0" in (PROJECT_ROOT / "Makefile").read_text()
    project = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert "torchvision" not in project and "torchaudio" not in project
