"""The Kubernetes manifests (deploy/k8s and its gpu/ overlay), checked offline: no cluster, no kubectl.

Each kustomization is rendered here (only the kustomize features it uses: resources, a literal
configMapGenerator, a strategic-merge patch of mappings, images; anything else fails the test rather
than being skipped), and every object is validated against the Kubernetes JSON schemas of K8S_VERSION
in strict mode (an unknown field is an error) with kubernetes-validate, which bundles the schemas.
On top of the schemas: the compose file's invariants (every stocktune container's args parse with
stocktune's own argparse, one storage variable built from one Secret, no literal secret, one volume
for the dataset cache and the artifacts) and Kubernetes' own (resources on every container, Indexed
workers with distinct seeds, a GPU limit, a ClusterIP-only dashboard, nothing left out of a
kustomization).
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from cli.main import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
GPU = K8S / "gpu"
RUNBOOK = ROOT / "docs" / "kubernetes.md"
DOCKERFILE = ROOT / "Dockerfile"

# the Kubernetes release whose schemas the manifests must satisfy; backoffLimitPerIndex is GA from 1.33
K8S_VERSION = "1.33.0"
STORAGE_VAR = "STOCKTUNE_STORAGE"
SECRET = ("stocktune-db", "password")  # (Secret name, key): created by hand, never shipped
RUNS_CLAIM, RUNS_MOUNT = "stocktune-runs", "/app/runs"
INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
PLACEHOLDER_PASSWORD = "placeholder-for-the-test"
# what each stocktune workload runs (kind, name) -> subcommand
WORKLOADS = {("Job", "stocktune-prep"): "prep", ("Job", "stocktune-worker"): "worker",
             ("Job", "stocktune-worker-gpu"): "launch", ("Deployment", "stocktune-dashboard"): "dashboard"}
WORKER_JOBS = ("stocktune-worker", "stocktune-worker-gpu")
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIAL", re.I)
POOL_PER_PROCESS = 6  # tuner/storage.py: pool_size 2 + max_overflow 4 per process that opens the storage


# --- a minimal kustomize -------------------------------------------------------------------------

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "configMapGenerator", "patches", "images"}


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _key(obj: dict) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _merge(base: dict, patch: dict) -> None:
    for k, v in patch.items():
        # lists merge by per-field keys in a strategic-merge patch: not emulated, so not allowed here
        assert not isinstance(v, list), f"list in a patch ({k}): not emulated by this test"
        if isinstance(v, dict):
            _merge(base.setdefault(k, {}), v)
        else:
            base[k] = v


def split_image(ref: str) -> tuple[str, str]:
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return (ref[:colon], ref[colon + 1:]) if colon > slash else (ref, "")


def render(directory: Path) -> list[dict]:
    """`kustomize build directory`, for the features listed in KUSTOMIZATION_KEYS (no name hash suffix:
    kustomize rewrites the references to a generated ConfigMap together with its name)."""
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert set(kust) <= KUSTOMIZATION_KEYS, f"{directory}: not rendered by this test: {set(kust) - KUSTOMIZATION_KEYS}"
    assert (kust["apiVersion"], kust["kind"]) == ("kustomize.config.k8s.io/v1beta1", "Kustomization")
    objs: list[dict] = []
    for entry in kust.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            objs += render(path)
        else:
            # kustomize's default load restrictor: a file must lie inside the kustomization's root
            assert path.is_relative_to(directory.resolve()), f"{directory}: {entry} is outside the root"
            objs += copy.deepcopy(load_docs(path))
    for gen in kust.get("configMapGenerator", []):
        assert set(gen) == {"name", "literals"}, gen
        assert ("ConfigMap", gen["name"]) not in map(_key, objs)
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]},
                     "data": dict(lit.split("=", 1) for lit in gen["literals"])})
    for p in kust.get("patches", []):
        assert set(p) == {"patch"}, "only inline patches that name their target"
        patch = yaml.safe_load(p["patch"])
        targets = [o for o in objs if _key(o) == _key(patch) and o["apiVersion"] == patch["apiVersion"]]
        assert len(targets) == 1, f"{directory}: patch target {_key(patch)} not found"
        _merge(targets[0], {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")})
    for img in kust.get("images", []):
        assert set(img) <= {"name", "newName", "newTag"}, img
        for _, _, c in containers(objs):
            name, tag = split_image(c["image"])
            if name == img["name"]:
                tag = img.get("newTag", tag)
                c["image"] = img.get("newName", name) + (f":{tag}" if tag else "")
    return objs


def pod_spec(obj: dict) -> dict | None:
    if obj["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet"):
        return obj["spec"]["template"]["spec"]
    return obj["spec"] if obj["kind"] == "Pod" else None


def containers(objs: list[dict]):
    """(object, pod spec, container) for every container and init container."""
    for obj in objs:
        spec = pod_spec(obj)
        if spec is not None:
            for c in spec.get("initContainers", []) + spec["containers"]:
                yield obj, spec, c


def find(objs: list[dict], kind: str, name: str) -> dict:
    (obj,) = [o for o in objs if _key(o) == (kind, name)]
    return obj


# --- the kubelet's view of a container -----------------------------------------------------------

def expand(s: str, env: dict[str, str]) -> str:
    """The kubelet's $(VAR) expansion (k8s third_party/forked/golang/expansion): $$ is a literal $,
    an undefined $(VAR) stays as it is, and ${VAR} is not touched."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "$" and i + 1 < len(s):
            nxt = s[i + 1]
            end = s.find(")", i + 2) if nxt == "(" else -1
            if nxt == "(" and end != -1:
                name = s[i + 2:end]
                out.append(env.get(name, f"$({name})"))
                i = end + 1
            else:
                out.append("$" if nxt == "$" else "$" + nxt)
                i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def resolve_env(c: dict, objs: list[dict], index: str = "0") -> dict[str, str]:
    """The container's environment as the kubelet builds it, in order (a value sees earlier entries)."""
    env: dict[str, str] = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = expand(str(e["value"]), env)
            continue
        src = e["valueFrom"]
        if "secretKeyRef" in src:
            ref = src["secretKeyRef"]
            assert (ref["name"], ref["key"]) == SECRET, f"{e['name']}: unexpected secret {ref}"
            env[e["name"]] = PLACEHOLDER_PASSWORD
        elif "configMapKeyRef" in src:
            ref = src["configMapKeyRef"]
            env[e["name"]] = find(objs, "ConfigMap", ref["name"])["data"][ref["key"]]
        elif "fieldRef" in src:
            path = src["fieldRef"]["fieldPath"]
            assert path == INDEX_FIELD, f"{e['name']}: unexpected fieldRef {path}"
            env[e["name"]] = index
        else:
            pytest.fail(f"{e['name']}: unhandled valueFrom {src}")
    return env


def parse_args(c: dict, env: dict[str, str]):
    assert "command" not in c, f"{c['name']}: keep the image's ENTRYPOINT (stocktune); set args only"
    argv = [expand(a, env) for a in c["args"]]
    assert not [a for a in argv if "$(" in a], f"{c['name']}: unresolved $(VAR) in {argv}"
    assert argv[0] in COMMANDS, f"{c['name']}: {argv[0]!r} is not a stocktune subcommand"
    try:
        args = build_parser(only=argv[0]).parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"{c['name']}: argparse rejects {argv}: exit {e.code}")
    assert args.command == argv[0]
    return args


def stocktune_containers(objs: list[dict]):
    for obj, spec, c in containers(objs):
        if split_image(c["image"])[0].rsplit("/", 1)[-1] == "stocktune":
            yield obj, spec, c


def mounts_by_path(spec: dict, c: dict) -> dict[str, dict]:
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    return {m["mountPath"]: volumes[m["name"]] for m in c.get("volumeMounts", [])}


def quantity(q) -> float:
    m = re.fullmatch(r"([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(q))
    assert m, f"not a quantity: {q!r}"
    scale = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[m.group(2)]
    return float(m.group(1)) * scale


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return render(K8S)


@pytest.fixture(scope="module")
def gpu() -> list[dict]:
    return render(GPU)


@pytest.fixture(scope="module", params=["base", "gpu"])
def rendered(request, base, gpu) -> list[dict]:
    return {"base": base, "gpu": gpu}[request.param]


# --- the tests -----------------------------------------------------------------------------------

def test_every_manifest_file_is_in_its_kustomization():
    dirs = {p.parent for p in K8S.rglob("*.y*ml")}
    assert dirs == {K8S, GPU}
    for d in dirs:
        kust = yaml.safe_load((d / "kustomization.yaml").read_text())
        listed = {e for e in kust.get("resources", []) if not (d / e).is_dir()}
        on_disk = {p.name for p in d.glob("*.y*ml")} - {"kustomization.yaml"}
        assert listed == on_disk, f"{d}: listed {sorted(listed)}, on disk {sorted(on_disk)}"
    # the overlay builds on the whole base
    assert ".." in [e.rstrip("/") for e in yaml.safe_load((GPU / "kustomization.yaml").read_text())["resources"]]


def test_every_object_validates_against_the_pinned_schemas(rendered):
    assert rendered
    errors = []
    for obj in rendered:
        try:
            used = kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{_key(obj)}: {'.'.join(map(str, e.path))}: {e.message}")
            continue
        # the bundled schemas of exactly that release, not a fallback to an older one
        assert used == K8S_VERSION.rsplit(".", 1)[0]
    assert errors == []


def test_the_schema_check_catches_mistakes(base):
    job = copy.deepcopy(find(base, "Job", "stocktune-worker"))
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    typo = copy.deepcopy(job)
    typo["spec"]["completionMod"] = typo["spec"].pop("completionMode")
    wrong_type = copy.deepcopy(job)
    wrong_type["spec"]["parallelism"] = "four"
    no_image = copy.deepcopy(job)
    del no_image["spec"]["template"]["spec"]["containers"][0]["name"]
    for bad in (typo, wrong_type, no_image):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_every_stocktune_container_runs_a_real_command(base, gpu):
    assert re.search(r'^ENTRYPOINT \["stocktune"\]', DOCKERFILE.read_text(), re.M)
    seen, studies = {}, set()
    for obj, _, c in stocktune_containers(gpu):
        args = parse_args(c, resolve_env(c, gpu))
        seen[_key(obj)] = args.command
        study = getattr(args, "study", None) or args.config
        assert (ROOT / study).is_file(), f"{_key(obj)}: {study} is not in the repo (the image copies studies/)"
        studies.add(study)
        assert c["image"] == ("stocktune:cuda" if args.command == "launch" else "stocktune:latest"), c["image"]
    assert seen == WORKLOADS
    assert len(studies) == 1, f"all pods must work on one study: {studies}"
    assert {_key(o) for o, _, _ in stocktune_containers(base)} == set(WORKLOADS) - {("Job", "stocktune-worker-gpu")}


def test_one_storage_variable_built_from_one_secret(gpu, monkeypatch):
    from tuner.study_config import load_study_config

    svc = find(gpu, "Service", "stocktune-postgres")
    pg = find(gpu, "StatefulSet", "stocktune-postgres")["spec"]["template"]["spec"]["containers"][0]
    pg_env = resolve_env(pg, gpu)
    assert pg_env["POSTGRES_PASSWORD"] == PLACEHOLDER_PASSWORD  # i.e. from SECRET
    url = (f"postgresql+psycopg://{pg_env['POSTGRES_USER']}:{PLACEHOLDER_PASSWORD}@{svc['metadata']['name']}:"
           f"{svc['spec']['ports'][0]['port']}/{pg_env['POSTGRES_DB']}")
    workdir = Path(re.search(r"^WORKDIR (\S+)", DOCKERFILE.read_text(), re.M).group(1))
    raw_values = set()
    for obj, _, c in stocktune_containers(gpu):
        env = resolve_env(c, gpu)
        args = parse_args(c, env)
        if args.command == "prep":
            # prep never opens the study storage, so its pod gets no database password
            assert STORAGE_VAR not in env and PLACEHOLDER_PASSWORD not in env.values()
            continue
        # stocktune expands '${STOCKTUNE_STORAGE}' itself: the URL stays out of the process list
        assert args.storage == f"${{{STORAGE_VAR}}}", _key(obj)
        assert env[STORAGE_VAR] == url, _key(obj)
        raw_values.add(next(e["value"] for e in c["env"] if e["name"] == STORAGE_VAR))
        # inside the container: the study resolves to that URL, its artifacts lie on the shared volume
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        cfg = load_study_config(ROOT / args.study, storage=args.storage)
        assert cfg.storage == url
        artifacts = cfg.artifacts if cfg.artifacts.is_absolute() else workdir / cfg.artifacts
        assert artifacts.is_relative_to(RUNS_MOUNT), artifacts
    assert len(raw_values) == 1, raw_values


def env_secret_findings(objs: list[dict]) -> list[str]:
    """Secret-looking env entries with a literal value, and URLs whose password is not $(VAR) of such
    an entry that comes from a Secret."""
    found = []
    for obj, _, c in containers(objs):
        where = f"{_key(obj)}/{c['name']}"
        from_secret = set()
        for e in c.get("env", []):
            if "secretKeyRef" in e.get("valueFrom", {}):
                from_secret.add(e["name"])
            elif SECRETISH.search(e["name"]):
                found.append(f"{where}: {e['name']} is not from a Secret")
            for m in URL_PASSWORD.finditer(str(e.get("value", ""))):
                ref = re.fullmatch(r"\$\((\w+)\)", m.group("pw"))
                if not (ref and ref.group(1) in from_secret):
                    found.append(f"{where}: {e['name']} holds a password that is not from a Secret")
        for a in c.get("args", []) + c.get("command", []):
            if URL_PASSWORD.search(a):
                found.append(f"{where}: a URL with a password on the command line")
    return found


URL_PASSWORD = re.compile(r"://[^:/@\s]+:(?P<pw>[^@\s]+)@")
FROM_LITERAL = re.compile(r"--from-literal=(?P<key>[\w.-]+)=(?P<value>\S*)")


def text_secret_findings(text: str) -> list[str]:
    """Lines of a manifest or the runbook that spell out a password."""
    found = []
    for no, line in enumerate(text.splitlines(), 1):
        for m in URL_PASSWORD.finditer(line):
            if not re.fullmatch(r"\$\(\w+\)|\$\{\w+\}|\*+", m.group("pw")):
                found.append(f"{no}: password in a URL: {line.strip()}")
        for m in FROM_LITERAL.finditer(line):
            if not m.group("value").lstrip("\"'").startswith("$("):
                found.append(f"{no}: literal secret value: {line.strip()}")
        if re.match(r"\s*kind:\s*Secret\b", line):
            found.append(f"{no}: a Secret object in the repo")
    return found


def test_no_literal_secret_anywhere(gpu):
    assert env_secret_findings(gpu) == []
    assert [o for o in gpu if o["kind"] == "Secret"] == []
    for path in sorted(K8S.rglob("*")) + [RUNBOOK]:
        if path.is_file():
            assert text_secret_findings(path.read_text()) == [], path
    # the database password itself: from the one Secret, in PostgreSQL and in every pod that needs it
    refs = {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for _, _, c in containers(gpu) for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {SECRET}


def test_the_secret_scans_catch_literals(base):
    tampered = copy.deepcopy(base)
    dash = find(tampered, "Deployment", "stocktune-dashboard")["spec"]["template"]["spec"]["containers"][0]
    for e in dash["env"]:
        if e["name"] == "POSTGRES_PASSWORD":
            e.pop("valueFrom")
            e["value"] = "hunter2"
    assert any("POSTGRES_PASSWORD is not from a Secret" in f for f in env_secret_findings(tampered))
    dash["env"].append({"name": "URL", "value": "postgresql+psycopg://u:hunter2@db/x"})
    dash["args"] = dash["args"] + ["--storage", "postgresql+psycopg://u:hunter2@db/x"]
    findings = env_secret_findings(tampered)
    # the password, the URL built from it (no longer from a Secret), the new URL and the argument
    assert len(findings) == 4 and sum("on the command line" in f for f in findings) == 1, findings
    assert text_secret_findings("  value: postgresql+psycopg://stocktune:hunter2@db:5432/x") != []
    assert text_secret_findings("kubectl create secret generic x --from-literal=password=hunter2") != []
    assert text_secret_findings("kind: Secret") != []
    assert text_secret_findings("  value: postgresql+psycopg://stocktune:$(POSTGRES_PASSWORD)@db/x") == []
    assert text_secret_findings('--from-literal=password="$(openssl rand -hex 24)"') == []


def test_resources_on_every_container(gpu):
    for obj, _, c in containers(gpu):
        where = f"{_key(obj)}/{c['name']}"
        res = c.get("resources", {})
        for kind in ("cpu", "memory"):
            req, lim = res.get("requests", {}).get(kind), res.get("limits", {}).get(kind)
            assert req is not None and lim is not None, f"{where}: {kind} request and limit"
            assert quantity(req) <= quantity(lim), f"{where}: {kind} request above its limit"
        gpus = res.get("limits", {}).get("nvidia.com/gpu")
        cpu_limit = quantity(res["limits"]["cpu"])
        if split_image(c["image"])[0] != "stocktune":
            assert gpus is None, where
            continue
        args = parse_args(c, resolve_env(c, gpu))
        if args.command == "launch":
            # one GPU per pod, shared by all of its workers; their threads fit the pod's CPU limit
            assert int(gpus) == 1, f"{where}: nvidia.com/gpu limit"
            assert args.workers is not None and args.workers_per_gpu is not None and args.threads
            assert args.workers <= args.workers_per_gpu * int(gpus), f"{where}: more workers than the GPU takes"
            assert args.workers * args.threads <= cpu_limit, f"{where}: threads above the CPU limit"
        else:
            assert gpus is None, f"{where}: only the GPU overlay asks for GPUs"
            if args.command == "worker":
                assert args.threads and args.threads <= cpu_limit, f"{where}: --threads vs the CPU limit"


def test_stocktune_pods_run_as_the_image_user(gpu):
    uid = int(re.search(r"useradd .*--uid (\d+)", DOCKERFILE.read_text()).group(1))
    for obj, spec, c in containers(gpu):
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, _key(obj)
        if split_image(c["image"])[0] == "stocktune":
            assert pod["runAsUser"] == uid and pod["fsGroup"] == uid, _key(obj)
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, _key(obj)


def test_workers_are_indexed_jobs_with_distinct_seeds(base, gpu, monkeypatch):
    from tuner.worker import worker_index_from_env

    for name in WORKER_JOBS:
        job = find(gpu, "Job", name)
        spec, pod = job["spec"], job["spec"]["template"]["spec"]
        assert spec["completionMode"] == "Indexed", name
        assert 1 <= spec["parallelism"] <= spec["completions"], name
        assert pod["restartPolicy"] == "Never", name
        # SIGTERM lets a worker finish its epoch: the default 30 s would kill it mid-epoch
        assert pod["terminationGracePeriodSeconds"] >= 300, name
        c = pod["containers"][0]
        (index_env,) = [e for e in c["env"] if e["name"] == "STOCKTUNE_WORKER_INDEX"]
        assert index_env["valueFrom"]["fieldRef"]["fieldPath"] == INDEX_FIELD
        # the worker reads that variable as its seed offset: one offset per completion index
        offsets = set()
        for i in range(spec["completions"]):
            monkeypatch.setenv("STOCKTUNE_WORKER_INDEX", resolve_env(c, gpu, index=str(i))["STOCKTUNE_WORKER_INDEX"])
            offsets.add(worker_index_from_env())
        assert offsets == set(range(spec["completions"])), name
    # the GPU overlay adds GPU workers and suspends the CPU ones; the base runs CPU workers only
    assert find(gpu, "Job", "stocktune-worker")["spec"]["suspend"] is True
    assert "suspend" not in find(base, "Job", "stocktune-worker")["spec"]
    assert ("Job", "stocktune-worker-gpu") not in map(_key, base)


def test_prep_workers_and_dashboard_share_one_volume(gpu):
    pvc = find(gpu, "PersistentVolumeClaim", RUNS_CLAIM)
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "pods on several nodes write it at once"
    caches = set()
    for obj, spec, c in stocktune_containers(gpu):
        vol = mounts_by_path(spec, c).get(RUNS_MOUNT)
        assert vol and vol.get("persistentVolumeClaim", {}).get("claimName") == RUNS_CLAIM, _key(obj)
        cache = resolve_env(c, gpu)["STOCKTUNE_CACHE"]
        assert Path(cache).is_relative_to(RUNS_MOUNT), _key(obj)
        caches.add(cache)
    assert len(caches) == 1, caches


def test_postgres_statefulset(gpu):
    sts = find(gpu, "StatefulSet", "stocktune-postgres")
    svc = find(gpu, "Service", sts["spec"]["serviceName"])
    assert svc["spec"].get("clusterIP") == "None", "the StatefulSet's governing Service is headless"
    assert sts["spec"]["replicas"] == 1
    spec = sts["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["image"].startswith("postgres:")
    assert c["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    pgdata = Path(resolve_env(c, gpu)["PGDATA"])
    assert pgdata.is_relative_to(mount["mountPath"]) and pgdata != Path(mount["mountPath"]), \
        "PGDATA must be a subdirectory: a fresh volume's root may hold lost+found"
    # enough connections for every worker process, each launcher and the dashboard
    max_conn = int(re.search(r"max_connections=(\d+)", " ".join(c["args"])).group(1))
    processes = 1  # the dashboard
    for name in WORKER_JOBS:
        job = find(gpu, "Job", name)
        wc = job["spec"]["template"]["spec"]["containers"][0]
        args = parse_args(wc, resolve_env(wc, gpu))
        per_pod = args.workers + 1 if args.command == "launch" else 1
        processes += job["spec"]["completions"] * per_pod
    assert max_conn >= processes * POOL_PER_PROCESS + 5, (max_conn, processes)


def test_services_select_their_pods_and_nothing_is_exposed(gpu):
    assert not [o for o in gpu if o["kind"] == "Ingress"]
    for svc in (o for o in gpu if o["kind"] == "Service"):
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP", f"{_key(svc)}: no NodePort/LoadBalancer"
        pods = [o for o in gpu if pod_spec(o) is not None and
                svc["spec"]["selector"].items() <= o["spec"]["template"]["metadata"]["labels"].items()]
        assert len(pods) == 1, f"{_key(svc)} selects {[_key(p) for p in pods]}"
        ports = {p["name"]: p["containerPort"] for c in pod_spec(pods[0])["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{_key(svc)}: no container port {port['targetPort']!r}"


def test_dashboard_listens_where_its_service_and_probe_look(gpu):
    svc = find(gpu, "Service", "stocktune-dashboard")
    assert svc["spec"]["type"] == "ClusterIP"
    (c,) = find(gpu, "Deployment", "stocktune-dashboard")["spec"]["template"]["spec"]["containers"]
    args = parse_args(c, resolve_env(c, gpu))
    assert args.host == "0.0.0.0", "the Service reaches the pod's IP, not its loopback"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports[svc["spec"]["ports"][0]["targetPort"]] == args.port
    probe = c["readinessProbe"]["httpGet"]
    assert probe["path"] == "/dashboard/" and ports.get(probe["port"], probe["port"]) == args.port


def test_runbook_names_what_the_manifests_define(gpu):
    text = RUNBOOK.read_text()
    assert len(text.splitlines()) <= 160
    for cmd in ("kubectl create secret generic stocktune-db", "kubectl apply -k deploy/k8s",
                "kubectl port-forward svc/stocktune-dashboard 8080:8080", "kubectl delete -k deploy/k8s"):
        assert cmd in text, cmd
    kinds = {"job": "Job", "svc": "Service", "deploy": "Deployment", "statefulset": "StatefulSet",
             "pvc": "PersistentVolumeClaim"}
    names = {_key(o) for o in gpu}
    refs = re.findall(r"\b(job|svc|deploy|statefulset|pvc)/(stock[a-z0-9-]*)", text)
    assert refs
    for kind, name in refs:
        assert (kinds[kind], name) in names, f"docs/kubernetes.md refers to {kind}/{name}, which is not defined"
    for name in re.findall(r"kubectl patch job ([a-z0-9-]+)", text):
        assert ("Job", name) in names, name
