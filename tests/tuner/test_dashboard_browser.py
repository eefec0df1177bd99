"""End to end: a tiny study on the sample data, `stocktune dashboard` on it, checked over HTTP and in
headless Chromium (Debian's /usr/bin/chromium driven by Playwright; never `playwright install`).

One module-scoped run: the dashboard starts first on the (still empty) SQLite storage, then a real
`stocktune worker` runs the study while two threads poll the dashboard's API as hard as a browser
tab would, so the same run shows that an open dashboard never makes a worker fail.
"""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from _study import ARCH_SEARCH, ARCH_TRAIN, Processes, env, stocktune, wait_for, write_study

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N_TRIALS = 3
EPOCHS = 3
PARAMS = ("learning_rate", "num_layers", "hidden_dim", "warmup_ratio")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read(), r.headers.get("Content-Type", "")


def _finished(base: str) -> bool:
    """Every trial of the (only) study complete with all its epochs, as the dashboard's API shows it."""
    sid = json.loads(_get(f"{base}/api/studies")[1])["study_summaries"][0]["study_id"]
    trials = json.loads(_get(f"{base}/api/studies/{sid}?after=0")[1])["trials"]
    return len(trials) == N_TRIALS and all(
        t["state"] == "Complete" and len(t["intermediate_values"]) == EPOCHS for t in trials)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    # sampler={}, heartbeat={}: the defaults (TPE seeded 42, 10 s heartbeat), not _study's tiny ones
    study = write_study(root, name="dash-e2e", n_trials=N_TRIALS, search=ARCH_SEARCH, sampler={}, heartbeat={},
                        train={**ARCH_TRAIN, "epochs": EPOCHS, "samples_per_epoch": 256, "dropout": 0.0,
                               "weight_decay": 0.0001})
    env_ = env(root / "cache")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    dash = worker = None
    stop_polling = threading.Event()
    polls: list[int | str] = []
    try:
        dash = Processes("dashboard", str(study), "--port", str(port), cwd=root, env=env_)
        dash.wait_until(lambda: "Listening on" in dash.text(), 90, "it listened")

        def poll() -> None:
            # what an open browser tab does, only faster: list studies, then the study with its trials
            while not stop_polling.is_set():
                try:
                    _, body, _ = _get(f"{base}/api/studies")
                    polls.append(200)
                    for s in json.loads(body)["study_summaries"]:
                        code, _, _ = _get(f"{base}/api/studies/{s['study_id']}?after=0")
                        polls.append(code)
                except Exception as e:  # noqa: BLE001 - recorded and asserted on below
                    polls.append(f"{type(e).__name__}: {e}")
                time.sleep(0.05)

        pollers = [threading.Thread(target=poll, daemon=True) for _ in range(2)]
        for t in pollers:
            t.start()
        worker = Processes("worker", str(study), "--threads", "1", cwd=root, env=env_)
        [worker_rc] = worker.wait(300)
        after = len(polls)  # and a few more polls of the finished study before the pollers stop
        wait_for(lambda: len(polls) >= after + 4, 30, "the pollers to read the finished study")
        # optuna-dashboard serves a study's trials from a cache up to 2 s old (its get_trials TTL): a
        # read right after the worker ends may still show the last trial running, with fewer epochs
        wait_for(lambda: _finished(base), 30, "the dashboard to serve the finished trials")
        stop_polling.set()
        for t in pollers:
            t.join(30)
        summaries = json.loads(_get(f"{base}/api/studies")[1])["study_summaries"]
        study_id = next(s["study_id"] for s in summaries if s["study_name"] == "dash-e2e")
        yield SimpleNamespace(root=root, study=study, base=base, study_id=study_id, polls=polls,
                              worker_rc=worker_rc, worker_out=worker.text(), summaries=summaries)
    finally:
        stop_polling.set()
        for procs in (worker, dash):
            if procs is not None:
                procs.close(grace=15)


def test_open_dashboard_never_fails_the_worker(live):
    assert live.worker_rc == 0, live.worker_out
    assert f"{N_TRIALS} complete, 0 pruned, 0 interrupted, 0 failed" in live.worker_out, live.worker_out
    assert "database is locked" not in live.worker_out
    study = optuna.load_study(storage=f"sqlite:///{live.root}/study.db", study_name="dash-e2e")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * N_TRIALS
    errors = [p for p in live.polls if p != 200]
    assert not errors, errors[:5]
    assert len(live.polls) >= 20, f"the dashboard was barely polled ({len(live.polls)} requests)"


def test_api_lists_the_study_and_serves_its_artifacts(live):
    assert [s["study_name"] for s in live.summaries] == ["dash-e2e"]
    detail = json.loads(_get(f"{live.base}/api/studies/{live.study_id}?after=0")[1])
    names = sorted(a["filename"] for a in detail["artifacts"])
    assert {"target_hist.png", "target_qq.png", "volatility_hist.png"} <= set(names), names
    assert any(n.endswith("_best.pt") for n in names), names
    assert "KS statistic vs uniform" in detail["note"]["body"] and "`sample`" in detail["note"]["body"]
    for t in detail["trials"]:
        # the trial's number and state in the message (a read within the dashboard's 2 s cache of the
        # last trial's end once showed it unfinished: the fixture now waits for the finished study)
        assert [v["step"] for v in t["intermediate_values"]] == list(range(1, EPOCHS + 1)), \
            {k: t.get(k) for k in ("number", "state", "datetime_start", "datetime_complete")}
        assert {p["name"] for p in t["params"]} >= set(PARAMS)
        assert "validation MAE" in t["note"]["body"]

    qq = next(a for a in detail["artifacts"] if a["filename"] == "target_qq.png")
    status, body, ctype = _get(f"{live.base}/artifacts/{live.study_id}/{qq['artifact_id']}")
    assert status == 200 and ctype.startswith("image/png")
    original = next((live.root / "cache").rglob("target_qq.png"))
    assert body == original.read_bytes()


def test_browser_shows_params_learning_curve_and_notes(live, tmp_path):
    from playwright.sync_api import sync_playwright
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/install.sh"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)  # playwright gives it a fresh profile
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{live.base}/dashboard/studies/{live.study_id}", wait_until="networkidle")
            page.get_by_text("Intermediate values").first.wait_for(timeout=30_000)
            for name in PARAMS:
                assert page.get_by_text(name).first.is_visible(), f"{name} not visible on the study page"
            # the learning curve: one plotly line per trial in the intermediate-values chart
            chart = page.locator("#graph-intermediate-values")
            chart.wait_for(timeout=30_000)
            assert chart.is_visible()
            assert chart.locator("g.trace").count() == N_TRIALS
            assert page.get_by_text("target_qq.png").first.is_visible()
            page.screenshot(path=str(tmp_path / "study.png"), full_page=True)

            page.goto(f"{live.base}/dashboard/studies/{live.study_id}/note", wait_until="networkidle")
            page.get_by_text("KS statistic vs uniform").first.wait_for(timeout=30_000)
            assert page.get_by_text("Search space").first.is_visible()
            page.screenshot(path=str(tmp_path / "note.png"), full_page=True)

            page.goto(f"{live.base}/dashboard/studies/{live.study_id}/trials", wait_until="networkidle")
            page.get_by_text("directional accuracy").first.wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / "trials.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "study.png").stat().st_size > 10_000


def test_non_local_host_warns_about_authentication(live):
    """Any host but loopback prints the warning before serving (checked with a port that is taken,
    so the command exits 2 right after the warning and leaves nothing running)."""
    port = live.base.rsplit(":", 1)[1]
    r = stocktune("dashboard", str(live.study), "--host", "0.0.0.0", "--port", port, cwd=live.root,
                  env=env(live.root / "cache"), timeout=120)
    assert "no authentication" in r.stderr
    assert r.returncode == 2 and "pick another --port" in r.stderr
