"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against the sandbox running experiments.

Skips, saying why, when Chromium (``.ci/install-chromium.sh``) or Playwright is missing. Screenshots
of the main pages go to ``$KUBERUN_SCREENSHOTS`` (default ``tests/.artifacts/screenshots``).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.operator import wait_for
from tests.ui.conftest import ROOT
from tests.ui.helpers import DashboardThread, get_experiment, patch_experiment, recorded_metrics

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = Path(os.environ.get("KUBERUN_SCREENSHOTS") or ROOT / "tests" / ".artifacts" / "screenshots")
WAIT_MS = 60_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run .ci/install-chromium.sh (as root)"),
]


def _wait(predicate, timeout: float = 90.0, what: str = "condition"):
    return wait_for(predicate, timeout, what, interval=0.2)


def _phase(kubeconfig: Path, name: str) -> str:
    return str((get_experiment(kubeconfig, "default", name).get("status") or {}).get("phase") or "")


def _wait_finished(kubeconfig: Path, name: str) -> dict:
    def finished():
        obj = get_experiment(kubeconfig, "default", name)
        return obj if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Cancelled") else None
    return _wait(finished, what=f"{name} to finish")


def _task(kubeconfig: Path, name: str, task: str) -> dict:
    for t in (get_experiment(kubeconfig, "default", name).get("status") or {}).get("tasks") or []:
        if t["name"] == task:
            return t
    return {}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def cluster(live_sandbox, tmp_path_factory) -> Iterator[dict]:
    """Runs started once for the module: hello (to the end), a flaky task retried, a slow logger, a sleeper, a title with markup."""
    import kuberun as kr
    from examples.hello import build

    kubeconfig = live_sandbox.kubeconfig
    hello = build().run(kubeconfig=str(kubeconfig))["metadata"]["name"]
    marker = tmp_path_factory.mktemp("flaky") / "tried"
    with kr.Experiment("flaky") as exp:
        exp.add(kr.Script(inline=f"if [ -e {shlex.quote(str(marker))} ]; then echo second try ok; else touch {shlex.quote(str(marker))}; "
                                 "echo first try fails >&2; sleep 1; exit 3; fi"), name="flaky", retries=2, backoff_seconds=1)
    flaky = exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]
    names = {"hello": hello, "flaky": flaky}
    # timestamps in status have one-second resolution: the failed try lasts 1 s and the retry waits 1 s,
    # so the two bars are apart on the time axis
    _wait(lambda: _phase(kubeconfig, hello) == "Succeeded", what="hello to succeed")
    with DashboardThread(kubeconfig) as dashboard:
        yield {"kubeconfig": kubeconfig, "names": names, "dashboard": dashboard}


@pytest.fixture
def page(browser, cluster) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    tab.goto(cluster["dashboard"].url)  # the access token becomes a cookie; then the list
    try:
        yield tab
    finally:
        context.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _start(kubeconfig: Path, title: str, inline: str, task: str) -> str:
    import kuberun as kr

    with kr.Experiment(title) as exp:
        exp.add(kr.Script(inline=inline), name=task)
    return exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]


def test_the_list_shows_the_experiments(page, cluster):
    hello = cluster["names"]["hello"]
    row = page.locator(f'tr[data-name="{hello}"]')
    row.wait_for()
    assert row.locator(".title").inner_text() == "hello"
    assert row.get_attribute("data-phase") == "Succeeded" and "3/3" in row.inner_text()
    assert page.locator(f'tr[data-name="{cluster["names"]["flaky"]}"]').count() == 1
    assert page.locator("table#experiments thead th[scope=col]").count() >= 7
    _shot(page, "list")


def test_the_dag_of_hello_has_its_tasks_and_dependencies(page, cluster):
    page.goto(f'{cluster["dashboard"].base}/exp/default/{cluster["names"]["hello"]}')
    nodes = page.locator("svg#dag a.node")
    assert sorted(nodes.evaluate_all("els => els.map(e => e.dataset.task)")) == ["pi", "primes", "report"]
    assert nodes.evaluate_all("els => els.map(e => e.dataset.phase)") == ["Succeeded"] * 3
    edges = page.locator("svg#dag path.edge").evaluate_all("els => els.map(e => [e.dataset.source, e.dataset.target])")
    assert sorted(edges) == [["pi", "report"], ["primes", "report"]]
    layers = {t: page.locator(f"#node-{t}").get_attribute("data-layer") for t in ("pi", "primes", "report")}
    assert layers == {"pi": "0", "primes": "0", "report": "1"}
    # the graph is drawn: report sits to the right of both parents
    x = {t: page.locator(f"#node-{t} rect").bounding_box()["x"] for t in ("pi", "primes", "report")}
    assert x["report"] > x["pi"] and x["report"] > x["primes"]
    assert "Partial[examples.hello:estimate_pi]" in page.locator('pre.config[data-task="pi"]').inner_text()
    assert "samples = 200000" in page.locator('pre.config[data-task="pi"]').inner_text()
    assert page.locator("svg#timeline rect.bar").count() == 3
    _shot(page, "experiment")


def test_the_timeline_shows_a_retried_tasks_attempts(page, cluster):
    kubeconfig, flaky = cluster["kubeconfig"], cluster["names"]["flaky"]
    _wait(lambda: _phase(kubeconfig, flaky) in ("Succeeded", "Failed"), what="flaky to finish")
    assert _phase(kubeconfig, flaky) == "Succeeded"
    page.goto(f'{cluster["dashboard"].base}/exp/default/{flaky}')
    bars = page.locator('svg#timeline rect.bar[data-task="flaky"]')
    assert bars.evaluate_all("els => els.map(e => [e.dataset.attempt, e.dataset.phase, e.dataset.backend])") == [
        ["1", "Failed", "kubernetes"], ["2", "Succeeded", "kubernetes"]]
    first, second = (bars.nth(i).bounding_box() for i in range(2))
    assert first["y"] == second["y"] and first["x"] + first["width"] <= second["x"] + 0.5
    rows = page.locator('table.attempts[data-task="flaky"] tbody tr')
    assert rows.count() == 2
    assert rows.nth(0).locator("td.exit").inner_text() == "3" and rows.nth(1).locator("td.exit").inner_text() == "0"
    assert "2 attempts" in page.locator("#node-flaky text.sub").text_content()
    page.locator('a[href*="/logs/flaky?attempt=1"]').click()
    assert "first try fails" in page.locator("#past-log").inner_text()
    _shot(page, "retries")


def test_a_running_tasks_log_streams_into_the_page(page, cluster):
    kubeconfig = cluster["kubeconfig"]
    name = _start(kubeconfig, "ticker", 'for i in $(seq 1 60); do echo "tick $i"; sleep 0.25; done', "ticker")
    _wait(lambda: _task(kubeconfig, name, "ticker").get("phase") == "Running", what="ticker to run")
    page.goto(f'{cluster["dashboard"].base}/exp/default/{name}')
    page.locator('button.follow[data-task="ticker"]').click()
    output = page.locator("#log-output")
    page.wait_for_function("() => /tick \\d+/.test(document.getElementById('log-output').textContent)")
    seen = max(int(n) for n in re.findall(r"tick (\d+)", output.inner_text()))
    assert seen < 60, "the task ended before the page followed it"
    # more lines arrive while the task runs, without reloading the page
    page.wait_for_function(f"() => document.getElementById('log-output').textContent.includes('tick {seen + 4}\\n')")
    assert _task(kubeconfig, name, "ticker").get("phase") == "Running" or seen + 4 <= 60
    assert "Following ticker" in page.locator("#log-status").inner_text()
    _shot(page, "log-follow")
    page.locator("#follow-stop").click()


def test_cancel_works_through_the_confirmation(page, cluster):
    kubeconfig = cluster["kubeconfig"]
    name = _start(kubeconfig, "sleeper", "sleep 120", "sleeper")
    _wait(lambda: _task(kubeconfig, name, "sleeper").get("phase") == "Running", what="sleeper to run")
    page.goto(f'{cluster["dashboard"].base}/exp/default/{name}')
    page.locator("#action-cancel").click()
    assert page.locator("h1").inner_text() == f"Cancel {name}?"
    assert get_experiment(kubeconfig, "default", name)["spec"].get("shutdown") is None  # nothing happens before confirming
    _shot(page, "confirm-cancel")
    page.locator("#confirm").click()
    page.locator("#done-notice").wait_for()
    assert get_experiment(kubeconfig, "default", name)["spec"]["shutdown"] == "Terminate"
    # the page follows the record live until the operator has cancelled it
    page.wait_for_function("() => document.getElementById('exp-phase').textContent === 'Cancelled'")
    assert _phase(kubeconfig, name) == "Cancelled"


def test_one_task_is_cancelled_from_its_row_while_the_other_runs(page, cluster):
    import kuberun as kr

    kubeconfig = cluster["kubeconfig"]
    with kr.Experiment("two-sleepers") as exp:
        exp.add(kr.Script(inline="sleep 120"), name="doomed")
        exp.add(kr.Script(inline="sleep 120"), name="keeper")
    name = exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]
    _wait(lambda: all(_task(kubeconfig, name, t).get("phase") == "Running" for t in ("doomed", "keeper")),
          what="both sleepers to run")
    page.goto(f'{cluster["dashboard"].base}/exp/default/{name}')
    page.locator("#cancel-task-doomed").click()
    assert page.locator("h1").inner_text() == f"Cancel task doomed of {name}?"
    assert get_experiment(kubeconfig, "default", name)["spec"].get("cancelTasks") is None  # nothing before confirming
    page.locator("#confirm").click()
    assert "(task doomed)" in page.locator("#done-notice").inner_text()
    page.wait_for_function("() => document.querySelector('#h-task-doomed .phase').textContent === 'Cancelled'")
    assert page.locator("#cancel-task-doomed").is_disabled()  # finished: nothing more to cancel
    assert _task(kubeconfig, name, "doomed")["phase"] == "Cancelled"
    assert _task(kubeconfig, name, "keeper")["phase"] == "Running" and _phase(kubeconfig, name) == "Running"
    assert page.locator("#h-task-keeper .phase").inner_text() == "Running"
    _shot(page, "task-cancelled")
    page.locator("#action-cancel").click()  # tidy: the keeper need not sleep on
    page.locator("#confirm").click()
    page.locator("#done-notice").wait_for()


def test_reproduce_with_overrides_then_compare_configs_and_metrics(page, cluster):
    kubeconfig, hello = cluster["kubeconfig"], cluster["names"]["hello"]
    page.goto(f'{cluster["dashboard"].base}/exp/default/{hello}/confirm/reproduce')
    page.locator("#overrides").fill("pi.samples=1000")
    page.locator("#confirm").click()
    page.locator("#done-notice").wait_for()
    child = page.url.rsplit("/", 1)[1].split("?")[0]
    assert child != hello and page.locator("#origin-link").inner_text() == hello
    for name, loss in ((hello, 0.4), (child, 0.7)):
        done = _wait_finished(kubeconfig, name)
        patch_experiment(kubeconfig, "default", name, recorded_metrics(done, {"pi": {"loss": loss, "error": loss / 10}}),
                         status=True)
    page.goto(f'{cluster["dashboard"].base}/compare?e=default/{hello}&e=default/{child}')
    changed = page.locator('table.diff[data-task="pi"] tr.changed')
    assert changed.count() == 1
    assert changed.locator("td").all_inner_texts() == ["samples = 200000", "samples = 1000"]
    assert page.locator('table.diff[data-task="primes"]').get_attribute("data-changed") == "0"
    loss = page.locator('#compare-metrics tr[data-metric="pi/loss"] td').all_inner_texts()
    assert loss == ["0.4", "0.7"]
    # hello ran as Kubernetes pods, whose series the operator does not copy: final values only, nothing to plot
    # (tests/ui/test_plots.py plots series of local runs).
    assert page.locator('svg.metric-plot[data-metric="pi/loss"]').count() == 0
    _shot(page, "compare")
    page.goto(f'{cluster["dashboard"].base}/exp/default/{hello}')
    assert child in page.locator("#lineage").inner_text()


def test_a_title_with_markup_renders_as_text_and_runs_nothing(page, cluster):
    import kuberun as kr

    title = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    with kr.Experiment(title) as exp:
        exp.add(kr.Script(inline="true"), name="t")
    name = exp.run(kubeconfig=str(cluster["kubeconfig"]))["metadata"]["name"]
    for path in ("/", f"/exp/default/{name}"):
        page.goto(cluster["dashboard"].base + path)
        shown = page.locator(f'tr[data-name="{name}"] .title') if path == "/" else page.locator("#exp-title")
        assert shown.inner_text() == title
        assert shown.locator("img, script").count() == 0
        assert page.evaluate("() => window.__pwned") is None


def test_keyboard_reaches_search_rows_and_opens_one(page, cluster):
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "f-title"
    page.locator("h1").click()  # leave the input
    page.keyboard.press("j")
    focused = page.evaluate("() => document.activeElement.className")
    assert focused == "row-link"
    target = page.evaluate("() => document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{target}")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"


def _grant_read(admin_kubeconfig: Path, user: str, namespace: str) -> None:
    """A Role that reads experiments, pods, logs and events in ``namespace`` (not patch), bound to ``user``."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(admin_kubeconfig))
    try:
        rbac = client.RbacAuthorizationV1Api(api)
        rbac.create_namespaced_role(namespace, {
            "metadata": {"name": f"{user}-reads"},
            "rules": [{"apiGroups": ["kuberun.dev"], "resources": ["experiments"], "verbs": ["get", "list", "watch"]},
                      {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": ["get", "list", "watch"]},
                      {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]}]})
        rbac.create_namespaced_role_binding(namespace, {
            "metadata": {"name": f"{user}-reads"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{user}-reads"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
    finally:
        api.close()


def test_an_action_the_users_rbac_forbids_is_refused_in_the_page(browser, cluster, live_sandbox):
    """A user who may read but not patch experiments: the page shows the API server's refusal as the rule to ask for."""
    admin = cluster["kubeconfig"]
    name = _start(admin, "locked", "sleep 120", "sleeper")
    viewer = live_sandbox.mint_user("viewer")  # authenticated, no rights of its own ...
    _grant_read(admin, "viewer", "default")    # ... but reading in default
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        with DashboardThread(viewer) as dashboard:
            tab = context.new_page()
            tab.set_default_timeout(WAIT_MS)
            tab.goto(dashboard.url)
            tab.goto(f"{dashboard.base}/exp/default/{name}")
            assert tab.locator("h1").inner_text().strip()  # the viewer can read the experiment's page
            tab.locator("#action-cancel").click()
            tab.locator("#confirm").click()
            message = tab.locator("#error-message")
            message.wait_for()
            text = message.inner_text()
            assert message.get_attribute("data-status") == "403"
            assert 'user "viewer" may not patch experiments.kuberun.dev in namespace "default"' in text, text
            assert "ask for RBAC verb 'patch'" in text, text
            _shot(tab, "forbidden")
        assert get_experiment(admin, "default", name)["spec"].get("shutdown") is None  # nothing was changed
    finally:
        context.close()
        patch_experiment(admin, "default", name, {"spec": {"shutdown": "Terminate"}})  # stop the sleeper
