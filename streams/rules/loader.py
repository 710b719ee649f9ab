"""Load and validate the rules files, naming the file and line of any mistake.

PyYAML's composed node tree keeps a start mark (line) per node; we record the line of
every path while building plain Python data, then map each pydantic error location back
to the deepest recorded path, so ``routing.yaml:42: routes.3.tier: ...`` points at the line.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .models import Dedup, Routing, Taxonomy, Upsell

SHIPPED = Path(__file__).resolve().parent
FILES: dict[str, type[BaseModel]] = {"taxonomy.yaml": Taxonomy, "routing.yaml": Routing,
                                     "upsell.yaml": Upsell, "dedup.yaml": Dedup}

Path_ = tuple[str | int, ...]


class RulesError(ValueError):
    """A rules file is unreadable or invalid; the message names file and line."""


@dataclass(frozen=True)
class RuleFiles:
    taxonomy: Taxonomy
    routing: Routing
    upsell: Upsell
    dedup: Dedup
    version: str


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(b"").construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or isinstance(key, (list, dict)):
                raise RulesError(f"line {key_node.start_mark.line + 1}: mapping keys must be scalars")
            out[key] = _build(value_node, (*path, str(key)), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*path, i), lines) for i, child in enumerate(node.value)]
    return yaml.SafeLoader(b"").construct_object(node)


def _line_of(loc: tuple[Any, ...], lines: dict[Path_, int]) -> int:
    path = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def load_file(path: Path, model: type[BaseModel]) -> BaseModel:
    """Parse one file; any error becomes a RulesError naming ``file:line``."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except OSError as exc:
        raise RulesError(f"{path}: cannot read rules file: {exc}") from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise RulesError(f"{path}:{line}: YAML syntax error: {exc.problem}") from exc
    if node is None:
        raise RulesError(f"{path}:1: rules file is empty")
    lines: dict[Path_, int] = {}
    try:
        data = _build(node, (), lines)
    except RulesError as exc:
        raise RulesError(f"{path}:{exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{path}:{_line_of(err['loc'], lines)}: {where}: {err['msg']}")
        raise RulesError("invalid rules file\n  " + "\n  ".join(problems)) from exc


def load_rule_files(folder: Path | None = None) -> RuleFiles:
    """All four files from ``folder`` (the shipped rules when None)."""
    folder = folder or SHIPPED
    parsed = {name: load_file(folder / name, model) for name, model in FILES.items()}
    digest = hashlib.sha256(b"".join((folder / n).read_bytes() for n in FILES)).hexdigest()[:8]
    versions = "/".join(parsed[n].version for n in FILES)  # type: ignore[attr-defined]
    return RuleFiles(taxonomy=parsed["taxonomy.yaml"], routing=parsed["routing.yaml"],  # type: ignore[arg-type]
                     upsell=parsed["upsell.yaml"], dedup=parsed["dedup.yaml"],  # type: ignore[arg-type]
                     version=f"{versions}#{digest}")
