"""Layered configuration: built-in defaults, the user's file, the project's file, overrides.

:func:`load_config` merges, lowest first:

1. the built-in :data:`DEFAULTS`;
2. the user's file, ``$STAGEFLOW_CONFIG_HOME/config.json``, else
   ``$XDG_CONFIG_HOME/stageflow/config.json``, else ``~/.config/stageflow/config.json``;
3. the project's file, ``{root}/.stageflow/config.json``;
4. runtime overrides (a mapping, or ``KEY=VALUE`` strings such as
   ``stages.test.enabled=false``).

Maps merge key by key, at every depth; anything else (lists included) replaces what was
there. A missing file is skipped. A key the format does not know is a warning (ignored);
a value of the wrong type or out of range is an error naming the file and the key's
path (:class:`ConfigError`, every problem at once), and so is a file that is not a JSON
object. :class:`Config` keeps, for every value, the layer it came from.

The format (:data:`DEFAULTS` holds every top-level key)::

    workflow        the workflow stage init uses (a name)
    model           the default model name of the agents ("inherit": the runtime's)
    executor        mode (batches|eager), workers, retries, backoff, timeout: the
                    defaults of stageflow task run
    review          block_on_severity (LOW|MEDIUM|HIGH): the lowest severity that fails
                    a review
    stages.<key>    enabled, model, max_retries, on_exhausted (continue|block|fail),
    phases.<id>     approval: the settings of one stage or phase
"""

from __future__ import annotations

import copy
import json
import os
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import attrs

from .errors import ProblemsError, StateFileError

if TYPE_CHECKING:
    from .workflow import WorkflowSpec

__all__ = [
    "DEFAULTS",
    "PROJECT_FILE",
    "Config",
    "ConfigError",
    "StepSettings",
    "load_config",
    "parse_override",
    "user_config_path",
]

PROJECT_FILE = os.path.join(".stageflow", "config.json")

DEFAULTS: Mapping[str, Any] = {
    "workflow": "eight-stage",
    "model": "inherit",
    "executor": {"mode": "batches", "workers": 4, "retries": 3, "backoff": 1.0, "timeout": None},
    "review": {"block_on_severity": "MEDIUM"},
    "stages": {},
    "phases": {},
}
"""The built-in defaults (read-only by convention: :func:`load_config` copies them)."""

SEVERITIES = ("LOW", "MEDIUM", "HIGH")
OUTCOMES = ("continue", "block", "fail")
_STEP_DEFAULTS = {"enabled": True, "max_retries": 3, "on_exhausted": "continue", "approval": False}


class ConfigError(ProblemsError):
    """The configuration has values that cannot be used; ``problems`` lists every one."""

    what = "invalid configuration"


@attrs.frozen
class StepSettings:
    """The effective settings of one stage or phase."""

    enabled: bool = True
    model: str = "inherit"
    max_retries: int = 3
    on_exhausted: str = "continue"
    approval: bool = False


@attrs.frozen
class Config:
    """The merged configuration: ``data`` (plain JSON values), ``sources`` (dotted key path
    of every leaf -> the layer it came from: ``default``, ``user``, ``project`` or
    ``override``), the ``files`` read (layer, path, whether it exists) and ``warnings``."""

    data: Mapping[str, Any]
    sources: Mapping[str, str]
    files: Tuple[Tuple[str, str, bool], ...] = ()
    warnings: Tuple[str, ...] = ()

    def get(self, path: str, default: Any = None) -> Any:
        """The value at a dotted ``path`` (``"executor.workers"``), or ``default``."""
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def stage(self, key: str) -> StepSettings:
        """The settings of stage ``key``: ``stages.<key>``, over the defaults (``model``
        from the top-level ``model``)."""
        return self._step("stages", key)

    def phase(self, phase_id: str) -> StepSettings:
        """The settings of phase ``phase_id``: ``phases.<id>``, over the defaults."""
        return self._step("phases", phase_id)

    def disabled(self, spec: WorkflowSpec) -> List[str]:
        """The stage keys and phase ids of ``spec`` this configuration switches off."""
        names = [s.key for s in spec.stages if not self.stage(s.key).enabled]
        return names + [p.id for s in spec.stages for p in s.phases if not self.phase(p.id).enabled]

    def approvals(self, spec: WorkflowSpec) -> List[str]:
        """The stage keys and phase ids of ``spec`` this configuration puts behind a
        person's approval."""
        names = [s.key for s in spec.stages if self.stage(s.key).approval]
        return names + [p.id for s in spec.stages for p in s.phases if self.phase(p.id).approval]

    def _step(self, group: str, name: str) -> StepSettings:
        values = {**_STEP_DEFAULTS, "model": self.data.get("model", "inherit")}
        values.update(self.data.get(group, {}).get(name, {}))
        return StepSettings(**values)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict: ``config``, ``sources``, ``files`` and ``warnings``."""
        return {
            "config": copy.deepcopy(dict(self.data)),
            "sources": dict(self.sources),
            "files": [
                {"layer": layer, "path": path, "exists": exists}
                for layer, path, exists in self.files
            ],
            "warnings": list(self.warnings),
        }


def user_config_path(environ: Optional[Mapping[str, str]] = None) -> str:
    """Where the user's file is (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("STAGEFLOW_CONFIG_HOME"):
        return os.path.join(env["STAGEFLOW_CONFIG_HOME"], "config.json")
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "stageflow", "config.json")


def parse_override(text: str) -> Tuple[str, Any]:
    """``KEY=VALUE`` as ``(key path, value)``: the value is read as JSON when it is JSON
    (``false``, ``3``, ``null``, ``["a"]``), else kept as text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError([f"override {text!r} is not KEY=VALUE (such as executor.workers=8)"])
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def load_config(
    root: Union[str, os.PathLike[str], None] = None,
    *,
    overrides: Union[Mapping[str, Any], Iterable[str], None] = None,
    user_file: Optional[str] = None,
) -> Config:
    """The configuration of the project at ``root`` (default: the current folder).

    ``overrides`` is a nested mapping, or ``KEY=VALUE`` strings (:func:`parse_override`).
    ``user_file`` replaces the user's file's location (:func:`user_config_path`).
    """
    base = os.path.abspath(os.fspath(root) if root is not None else os.getcwd())
    project = os.path.join(base, PROJECT_FILE)
    layers: List[Tuple[str, str, Optional[Mapping[str, Any]]]] = [
        ("user", user_file or user_config_path(), None),
        ("project", project, None),
    ]
    data: Dict[str, Any] = copy.deepcopy(dict(DEFAULTS))
    sources: Dict[str, str] = {}
    _record(data, "", "default", sources)
    problems: List[str] = []
    warnings: List[str] = []
    files = []
    for layer, path, _ in layers:
        document = _read(path, problems)
        files.append((layer, path, document is not None))
        if document is not None:
            _apply(data, sources, document, layer, path, problems, warnings)
    if overrides is not None:
        _apply(data, sources, _nested(overrides), "override", "override", problems, warnings)
    if problems:
        raise ConfigError(problems)
    return Config(data, dict(sorted(sources.items())), tuple(files), tuple(warnings))


# -- reading and merging -------------------------------------------------------------------


def _read(path: str, problems: List[str]) -> Optional[Dict[str, Any]]:
    from ._rundoc import parse_json_bytes

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        problems.append(f"{path}: cannot be read ({exc.strerror or exc})")
        return None
    try:
        document = parse_json_bytes(data, path)
    except StateFileError as exc:
        problems.append(f"{path}: {exc.problem}")
        return None
    if not isinstance(document, dict):
        problems.append(f"{path}: a configuration file holds a JSON object")
        return None
    return document


def _nested(overrides: Union[Mapping[str, Any], Iterable[str]]) -> Dict[str, Any]:
    if isinstance(overrides, Mapping):
        return copy.deepcopy(dict(overrides))
    nested: Dict[str, Any] = {}
    for text in overrides:
        key, value = parse_override(text)
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return nested


def _record(node: Any, prefix: str, layer: str, sources: Dict[str, str]) -> None:
    """Note ``layer`` as the source of every leaf under ``prefix``."""
    if isinstance(node, dict) and (node or not prefix):
        for key, value in node.items():
            _record(value, f"{prefix}.{key}" if prefix else key, layer, sources)
    else:
        for known in [k for k in sources if k == prefix or k.startswith(prefix + ".")]:
            del sources[known]
        sources[prefix] = layer


def _apply(
    data: Dict[str, Any],
    sources: Dict[str, str],
    document: Mapping[str, Any],
    layer: str,
    where: str,
    problems: List[str],
    warnings: List[str],
) -> None:
    """Check ``document`` and merge what is valid into ``data``."""
    checked = _check(document, where, problems, warnings)
    _merge(data, checked, "", layer, sources)


def _merge(
    target: Dict[str, Any],
    update: Mapping[str, Any],
    prefix: str,
    layer: str,
    sources: Dict[str, str],
) -> None:
    for key, value in update.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            if value:
                sources.pop(path, None)  # an empty map's entry gives way to its new keys
            _merge(target[key], value, path, layer, sources)
        else:
            target[key] = copy.deepcopy(value)
            _record(target[key], path, layer, sources)


# -- checking ---------------------------------------------------------------------------------


def _check(
    document: Mapping[str, Any], where: str, problems: List[str], warnings: List[str]
) -> Dict[str, Any]:
    """The known, valid part of ``document``; every problem and warning is recorded."""
    out: Dict[str, Any] = {}
    for key, value in document.items():
        if key == "workflow":
            _keep(out, key, value, _name(value), where, key, problems)
        elif key == "model":
            _keep(out, key, value, _text(value), where, key, problems)
        elif key in ("executor", "review"):
            rules = _EXECUTOR if key == "executor" else _REVIEW
            out[key] = _section(value, rules, where, key, problems, warnings)
        elif key in ("stages", "phases"):
            out[key] = _steps(value, where, key, problems, warnings)
        else:
            warnings.append(f"{where}: unknown key {key} (ignored)")
    return out


def _keep(
    out: Dict[str, Any],
    key: str,
    value: Any,
    problem: Optional[str],
    where: str,
    path: str,
    problems: List[str],
) -> None:
    if problem is None:
        out[key] = value
    else:
        problems.append(f"{where}: {path}: {problem}")


def _section(
    value: Any,
    rules: Mapping[str, Any],
    where: str,
    path: str,
    problems: List[str],
    warnings: List[str],
) -> Dict[str, Any]:
    if not isinstance(value, dict):
        problems.append(f"{where}: {path}: must be an object, not {_kind(value)}")
        return {}
    out: Dict[str, Any] = {}
    for key, item in value.items():
        rule = rules.get(key)
        if rule is None:
            warnings.append(f"{where}: unknown key {path}.{key} (ignored)")
        else:
            _keep(out, key, item, rule(item), where, f"{path}.{key}", problems)
    return out


def _steps(
    value: Any, where: str, path: str, problems: List[str], warnings: List[str]
) -> Dict[str, Any]:
    if not isinstance(value, dict):
        problems.append(f"{where}: {path}: must be an object, not {_kind(value)}")
        return {}
    return {
        name: _section(settings, _STEP, where, f"{path}.{name}", problems, warnings)
        for name, settings in value.items()
    }


def _kind(value: Any) -> str:
    from ._minischema import json_type_phrase

    return json_type_phrase(value)


def _boolean(value: Any) -> Optional[str]:
    return None if isinstance(value, bool) else f"must be true or false, not {_kind(value)}"


def _text(value: Any) -> Optional[str]:
    if isinstance(value, str) and value.strip():
        return None
    return f"must be a non-blank string, not {value!r}"


def _name(value: Any) -> Optional[str]:
    from .workflow import KEY_PATTERN

    if isinstance(value, str) and KEY_PATTERN.match(value):
        return None
    return f"must be a workflow name (lowercase letters, digits, '-' or '_'), not {value!r}"


def _count(low: int) -> Any:
    def check(value: Any) -> Optional[str]:
        if isinstance(value, int) and not isinstance(value, bool) and value >= low:
            return None
        return f"must be an integer >= {low}, not {value!r}"

    return check


def _seconds(allow_none: bool, low_open: bool) -> Any:
    def check(value: Any) -> Optional[str]:
        if value is None and allow_none:
            return None
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        finite = number and value == value and value != float("inf")
        if finite and (value > 0 or (value == 0 and not low_open)):
            return None
        low = "> 0" if low_open else ">= 0"
        extra = " or null" if allow_none else ""
        return f"must be a number of seconds {low}{extra}, not {value!r}"

    return check


def _choice(*choices: str) -> Any:
    def check(value: Any) -> Optional[str]:
        if value in choices:
            return None
        return f"must be one of {', '.join(choices)}, not {value!r}"

    return check


_EXECUTOR = {
    "mode": _choice("batches", "eager"),
    "workers": _count(1),
    "retries": _count(0),
    "backoff": _seconds(False, False),
    "timeout": _seconds(True, True),
}


def _severity(value: Any) -> Optional[str]:
    if isinstance(value, str) and value.upper() in SEVERITIES:
        return None  # any case, as reviewers write it
    return f"must be one of {', '.join(SEVERITIES)} (in any case), not {value!r}"


_REVIEW = {"block_on_severity": _severity}
_STEP = {
    "enabled": _boolean,
    "model": _text,
    "max_retries": _count(0),
    "on_exhausted": _choice(*OUTCOMES),
    "approval": _boolean,
}
