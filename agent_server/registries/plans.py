"""Install plans: the MCP server config each way of running a registry's server would store.

A package becomes a command line (npx, uvx, docker, dnx) built as a list of arguments, never a
shell string; a remote becomes a URL, a transport and headers. Inputs fill `{var}` placeholders,
arguments, environment variables and headers; secrets go only where the store encrypts them
(env and headers), so a secret asked for on a command line or in a URL is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agent_server.errors import field_error
from agent_server.registries.schema import (
    Argument,
    Input,
    KeyValueInput,
    Package,
    Remote,
    ServerJSON,
)
from sdk.models import InstallPlan, PlanInput, is_valid_server_name

PACKAGE_ORDER = ("npm", "pypi", "oci", "nuget")
_TRANSPORTS = {"streamable-http": "http", "sse": "sse"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.-]+)\}")


@dataclass
class Inputs:
    """The values an install was given, and what each plan asked for.

    With `given` None (a preview), a required input with no default reads as `{name}`.
    """

    given: dict[str, str] | None
    declared: dict[str, PlanInput] = field(default_factory=dict)
    secret: set[str] = field(default_factory=set)
    places: dict[str, str] = field(default_factory=dict)  # input -> argument, url, env, header
    errors: list[dict[str, Any]] = field(default_factory=list)

    def value(self, name: str, spec: Input, where: str) -> str | None:
        """The value of input `name`; None when it is optional and not given."""
        if name not in self.declared:
            self.declared[name] = PlanInput(
                name=name,
                description=spec.description,
                is_required=spec.isRequired,
                is_secret=spec.isSecret,
                default=spec.default,
                choices=spec.choices,
                format=spec.format,
            )
        if spec.isSecret:
            self.secret.add(name)
        self.places.setdefault(name, where)
        given = self.given or {}
        if name in given:
            value: str | None = given[name]
            if spec.choices and value not in spec.choices:
                self._error(name, "not one of the choices: " + ", ".join(spec.choices), "choice")
        elif spec.default is not None:
            value = spec.default
        elif spec.isRequired:
            if self.given is None:
                return "{" + name + "}"
            self._error(name, "a required input with no default: give a value", "missing")
            return None
        else:
            return None
        if spec.isSecret and where in ("argument", "url") and self.given is not None:
            self._error(
                name,
                f"a secret this server takes in its {where}s, where it would be stored "
                "unencrypted; choose another way to run it, or set it up by hand",
                "secret_not_storable",
            )
        return value

    def fill(self, template: str, variables: dict[str, Input], where: str) -> str:
        """`template` with each `{var}` of `variables` filled; other braces stay as they are."""

        def one(match: re.Match[str]) -> str:
            spec = variables.get(match.group(1))
            if spec is None:
                return match.group(0)
            value = self.value(match.group(1), spec, where)
            return "" if value is None else value

        return _PLACEHOLDER.sub(one, template)

    def _error(self, name: str, msg: str, kind: str) -> None:
        error = field_error(("inputs", name), msg, kind)
        if error not in self.errors:
            self.errors.append(error)


def _own(spec: Input | KeyValueInput, name: str, inputs: Inputs, where: str) -> str | None:
    """A fixed value (its placeholders filled), or the input of that name."""
    if spec.value is not None:
        return inputs.fill(spec.value, spec.variables, where)
    return inputs.value(name, spec, where)


def _arguments(arguments: list[Argument], inputs: Inputs) -> list[str]:
    """Arguments in the registry's order: named as `--flag value`, positional as values."""
    out: list[str] = []
    for index, argument in enumerate(arguments):
        if argument.type == "positional":
            name = argument.valueHint or f"argument_{index}"
            value = _own(argument, name, inputs, "argument")
            if value is not None:
                out.append(value)
            continue
        flag = argument.name or ""
        value = _own(argument, flag.lstrip("-") or f"argument_{index}", inputs, "argument")
        if value is None:
            continue
        if argument.format == "boolean" and argument.value is None:
            out += [flag] if value == "true" else []
        else:
            out += [flag, value]
    return out


def _pairs(items: list[KeyValueInput], inputs: Inputs, where: str) -> dict[str, str]:
    found = {}
    for item in items:
        value = _own(item, item.name, inputs, where)
        if value is not None:
            found[item.name] = value
    return found


def _pinned(identifier: str, version: str | None, separator: str) -> str:
    return identifier if version is None else f"{identifier}{separator}{version}"


def _image(identifier: str, version: str | None) -> str:
    """An OCI image reference: the identifier, tagged with the version unless it has a tag."""
    last = identifier.rsplit("/", 1)[-1]
    if version is None or ":" in last or "@" in identifier:
        return identifier
    return f"{identifier}:{version}"


def package_problem(package: Package) -> str | None:
    """Why a package cannot be run from here, or None."""
    if package.registryType not in PACKAGE_ORDER:
        return f"{package.registryType} packages cannot be installed here"
    if package.transport is not None and package.transport.type != "stdio":
        return f"a package that serves {package.transport.type} must be started by hand"
    return None


def package_config(package: Package, inputs: Inputs) -> dict[str, Any]:
    runtime = _arguments(package.runtimeArguments, inputs)
    arguments = _arguments(package.packageArguments, inputs)
    env = _pairs(package.environmentVariables, inputs, "env")
    ident, version = package.identifier, package.version
    if package.registryType == "npm":
        command, args = "npx", ["-y", *runtime, _pinned(ident, version, "@"), *arguments]
    elif package.registryType == "pypi":
        command, args = "uvx", [*runtime, _pinned(ident, version, "=="), *arguments]
    elif package.registryType == "oci":
        passed = [part for name in env for part in ("-e", name)]
        args = ["run", "-i", "--rm", *passed, *runtime, _image(ident, version), *arguments]
        command = "docker"
    else:  # nuget
        tail = ["--", *arguments] if arguments else []
        command, args = "dnx", [*runtime, _pinned(ident, version, "@"), "--yes", *tail]
    config: dict[str, Any] = {"command": command, "args": args}
    if env:
        config["env"] = env
    return config


def remote_config(remote: Remote, inputs: Inputs) -> dict[str, Any]:
    config: dict[str, Any] = {
        "url": inputs.fill(remote.url, remote.variables, "url"),
        "transport": _TRANSPORTS[remote.type],
    }
    headers = _pairs(remote.headers, inputs, "header")
    if headers:
        config["headers"] = headers
    return config


@dataclass(frozen=True)
class Choice:
    kind: str  # "package" or "remote"
    index: int


def build(server: ServerJSON, choice: Choice, inputs: Inputs) -> dict[str, Any]:
    """The config of one way to run `server`, with `inputs`' values (errors in inputs)."""
    if choice.kind == "remote":
        config = remote_config(server.remotes[choice.index], inputs)
    else:
        config = package_config(server.packages[choice.index], inputs)
    if server.description:
        config["description"] = server.description
    return config


def plans(server: ServerJSON) -> list[InstallPlan]:
    """Every way to run `server`, each with the config a bare install would store."""
    found = []
    ways = [("remote", i, r.type, None) for i, r in enumerate(server.remotes)]
    ways += [
        ("package", i, p.registryType, package_problem(p)) for i, p in enumerate(server.packages)
    ]
    for kind, index, type_, problem in ways:
        inputs = Inputs(given=None)
        config = None if problem else build(server, Choice(kind, index), inputs)
        found.append(
            InstallPlan(
                choose={kind: index},
                type=type_,
                supported=problem is None,
                problem=problem,
                config=config,
                inputs=list(inputs.declared.values()),
            )
        )
    return found


def preferred(server: ServerJSON) -> Choice | None:
    """Without `choose`: a remote first, then packages in the order npm, pypi, oci, nuget."""
    if server.remotes:
        return Choice("remote", 0)
    runnable = [
        (PACKAGE_ORDER.index(p.registryType), i)
        for i, p in enumerate(server.packages)
        if package_problem(p) is None
    ]
    return Choice("package", min(runnable)[1]) if runnable else None


def choice_of(server: ServerJSON, choose: dict[str, int]) -> Choice | str:
    """The Choice `choose` names, or why it names none."""
    if len(choose) != 1 or next(iter(choose)) not in ("package", "remote"):
        return 'choose is {"package": i} or {"remote": i}'
    kind, index = next(iter(choose.items()))
    ways = server.packages if kind == "package" else server.remotes
    if not 0 <= index < len(ways):
        return f"this version has {len(ways)} {kind}(s): the index is out of range"
    if kind == "package":
        problem = package_problem(server.packages[index])
        if problem is not None:
            return problem
    return Choice(kind, index)


def default_name(server_name: str) -> str:
    """Our name for a registry server: the part after '/', made to fit our name rule."""
    name = re.sub(r"[^A-Za-z0-9_.@:-]", "-", server_name.rsplit("/", 1)[-1])[:128]
    return name if is_valid_server_name(name) else "server"
