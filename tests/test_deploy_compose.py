"""The deployment files (docker-compose.yml, Dockerfile, .env.example), checked without a Docker engine.

Every service's command must be a real `stocktune` subcommand that argparse accepts; workers and the
dashboard must read the same storage variable and artifact volume; no secret may be baked in; and the
start order (postgres healthy -> prep completed -> workers) must be declared.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml  # the test extra installs PyYAML

from cli.main import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
STOCKTUNE_SERVICES = ("prep", "worker", "worker-gpu", "dashboard")
STORAGE_VAR = "STOCKTUNE_STORAGE"

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $VAR and $$."""

    def repl(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        val = env.get(name)
        if op in (":-", "-"):
            return val if (val if op == ":-" else val is not None) else arg
        if op in (":?", "?"):
            if val is None or (op == ":?" and val == ""):
                raise KeyError(f"{name}: {arg}")
            return val
        return val or ""

    return _VAR.sub(repl, value)


def _walk(node, env):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_walk(v, env) for v in node]
    if isinstance(node, dict):
        return {k: _walk(v, env) for k, v in node.items()}
    return node


def _env_example() -> dict[str, str]:
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip()
    return env


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    env = {**_env_example(), "POSTGRES_PASSWORD": "placeholder-for-the-test"}
    return _walk(raw, env)


def test_every_stocktune_command_parses(compose):
    services = compose["services"]
    assert set(STOCKTUNE_SERVICES) <= set(services)
    for name in STOCKTUNE_SERVICES:
        cmd = services[name]["command"]
        assert isinstance(cmd, list), f"{name}: use the exec (list) form so that no shell mangles the URL"
        assert cmd[0] in COMMANDS, f"{name}: {cmd[0]!r} is not a stocktune subcommand"
        parser = build_parser(only=cmd[0])
        try:
            args = parser.parse_args(cmd)
        except SystemExit as e:
            pytest.fail(f"{name}: argparse rejects {cmd}: exit {e.code}")
        assert args.command == cmd[0]
        study = getattr(args, "study", None) or getattr(args, "config", None)
        assert study and (ROOT / study).is_file(), \
            f"{name}: the study file {study} is not in the repo (the image copies studies/)"
    # all of them work on the same study
    studies = {getattr(a, "study", None) or a.config for a in
               (build_parser(only=services[n]["command"][0]).parse_args(services[n]["command"])
                for n in STOCKTUNE_SERVICES)}
    assert len(studies) == 1, studies


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def test_the_image_runs_the_stocktune_console_script(raw):
    """ENTRYPOINT is the console script the project declares, so `command:` lines are subcommands."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry = [json.loads(args) for word, args in dockerfile() if word == "ENTRYPOINT"]
    assert entry and entry[-1][0] in scripts and len(entry[-1]) == 1
    for name in STOCKTUNE_SERVICES:
        assert raw["services"][name]["image"].startswith("stocktune:")


def test_the_image_holds_every_package_the_project_installs():
    """Each top-level package pyproject installs is COPY'd into the image, and the build imports it."""
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [p.rstrip("*") for p in include]
    assert all((ROOT / p / "__init__.py").is_file() for p in packages), packages
    copied = {args.split()[0] for word, args in dockerfile() if word == "COPY"}
    assert set(packages) <= copied, f"not copied into the image: {set(packages) - copied}"
    runs = " ".join(args for word, args in dockerfile() if word == "RUN")
    assert all(re.search(rf"\bimport\b[^\"]*\b{p}\b", runs) for p in packages), "the build must import every package"


def test_workers_and_dashboard_share_storage_variable_and_artifact_volume(raw, compose):
    services = compose["services"]
    for name in ("worker", "worker-gpu", "dashboard"):
        svc = services[name]
        cmd = svc["command"]
        # `$${VAR}` in the file reaches stocktune as `${VAR}`, which the study loader expands
        assert cmd[cmd.index("--storage") + 1] == f"${{{STORAGE_VAR}}}", name
        assert STORAGE_VAR in svc["environment"], name
        assert "runs:/app/runs" in svc["volumes"], name
    urls = {services[n]["environment"][STORAGE_VAR] for n in ("prep", "worker", "worker-gpu", "dashboard")}
    assert len(urls) == 1
    url = urls.pop()
    assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url
    # the password inside that URL comes from the env file, required, never defaulted
    assert "${POSTGRES_PASSWORD:?" in raw["services"]["worker"]["environment"][STORAGE_VAR]
    assert "runs" in compose["volumes"] and "pgdata" in compose["volumes"]


def test_dashboard_binds_all_interfaces_in_container_but_publishes_on_loopback(compose):
    dash = compose["services"]["dashboard"]
    args = build_parser(only="dashboard").parse_args(dash["command"])
    assert args.host == "0.0.0.0"
    assert all(str(p).startswith("127.0.0.1:") for p in dash["ports"]), dash["ports"]


def test_start_order_and_healthcheck(raw, compose):
    services = compose["services"]
    pg = services["postgres"]
    assert pg["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert "pgdata:/var/lib/postgresql/data" in pg["volumes"]
    for name in ("worker", "worker-gpu"):
        dep = services[name]["depends_on"]
        assert dep["postgres"]["condition"] == "service_healthy"
        assert dep["prep"]["condition"] == "service_completed_successfully"
    assert services["dashboard"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["prep"].get("restart") == "no" and "deploy" not in raw["services"]["prep"]
    assert int(services["worker"]["deploy"]["replicas"]) >= 1
    gpu = services["worker-gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert gpu["profiles"] == ["gpu"], "GPU workers must be opt-in, or compose fails on a host without a GPU"


def test_missing_password_is_an_error_not_a_default(raw):
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        _walk(raw, {k: v for k, v in _env_example().items() if k != "POSTGRES_PASSWORD"})
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        _walk(raw, _env_example())  # .env.example leaves it empty on purpose


SECRET_LINE = re.compile(r"^\s*(?:-\s*)?(?:(?:ENV|ARG)\s+)?\w*(PASSWORD|SECRET|TOKEN|API_KEY)\w*\s*[:=]\s*(?P<value>\S.*)?$",
                         re.I)
URL_PASSWORD = re.compile(r"://[^:/@\s]+:(?P<pw>[^@\s]+)@")


def secret_findings(text: str) -> list[str]:
    """Lines that give a secret a literal value (anything but a required ${VAR:?...} reference)."""
    found = []
    for no, line in enumerate(text.splitlines(), 1):
        code = "" if line.lstrip().startswith("#") else line
        m = SECRET_LINE.search(code)
        if m and m.group("value"):
            value = m.group("value").strip().strip("'\"")
            if not (value.startswith("${") and ":?" in value):
                found.append(f"{no}: {line.strip()}")
        found += [f"{no}: password in a URL" for m in URL_PASSWORD.finditer(code)
                  if not (m.group("pw").startswith("${") and ":?" in m.group("pw"))]
    return found


@pytest.mark.parametrize("path", [COMPOSE, DOCKERFILE, ENV_EXAMPLE], ids=lambda p: p.name)
def test_no_hard_coded_secret(path):
    assert secret_findings(path.read_text()) == []


def test_the_default_image_gets_the_cpu_torch_the_project_pins():
    """A plain `docker build` installs the CPU torch at the version scripts/install.sh pins, so the image
    never pulls a CUDA build by accident; the base image is an argument (the CUDA variant overrides it)."""
    args = dict(a.split("=", 1) for word, a in dockerfile() if word == "ARG" and "=" in a)
    assert args["TORCH_INDEX_URL"].endswith("/whl/cpu")
    pinned = re.search(r"torch==([\d.]+)", (ROOT / "scripts" / "install.sh").read_text()).group(1)
    assert args["TORCH_VERSION"] == pinned
    assert [a for w, a in dockerfile() if w == "FROM"] == ["${BASE_IMAGE}"]
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_study_resolves_to_postgres_and_the_shared_volume(compose, monkeypatch):
    """Inside a container: the `--storage ${STOCKTUNE_STORAGE}` argument expands to the PostgreSQL URL,
    and the study's artifacts dir and the dataset cache lie on the `runs` volume (/app/runs)."""
    from tuner.study_config import load_study_config

    workdir = [a for w, a in dockerfile() if w == "WORKDIR"][-1]
    for name in ("worker", "dashboard"):
        svc = compose["services"][name]
        for k, v in svc["environment"].items():
            monkeypatch.setenv(k, v)
        args = build_parser(only=svc["command"][0]).parse_args(svc["command"])
        cfg = load_study_config(ROOT / args.study, storage=args.storage)
        assert cfg.storage == svc["environment"][STORAGE_VAR]
        artifacts = Path(workdir) / cfg.artifacts if not cfg.artifacts.is_absolute() else cfg.artifacts
        assert artifacts.is_relative_to("/app/runs"), artifacts
        assert Path(svc["environment"]["STOCKTUNE_CACHE"]).is_relative_to("/app/runs")
