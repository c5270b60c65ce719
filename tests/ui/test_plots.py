"""Metric plots in the compare view, in a real browser: two runs that logged series with ``kr.log_metrics``.

The runs use the local executor, whose ``metrics.jsonl`` the operator copies to the log store when
the attempt ends; the dashboard reads the series through the record server as the user. Each plot
must have one polyline per run with as many points as that run logged, the drawing must say what it
is (title, desc) and the same points must be in its table fallback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.operator import wait_for
from tests.ui.conftest import ROOT
from tests.ui.helpers import DashboardThread, get_experiment
from tests.ui.test_browser import ARGS, CHROMIUM, WAIT_MS, _shot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run .ci/install-chromium.sh (as root)"),
]
pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")

STEPS = {"short": 5, "long": 9}


@pytest.fixture(scope="module")
def runs(live_sandbox) -> Iterator[dict]:
    import kuberun as kr
    from kuberun.api import connect
    from kuberun.manage.records import RecordClient
    from tests.fixtures.tasks import report

    kubeconfig = str(live_sandbox.kubeconfig)
    names = {}
    for label, steps in STEPS.items():
        with kr.Experiment(f"plots-{label}") as exp:
            exp.add(kr.Partial(report, steps=steps), name="train",
                    executor=kr.LocalExecutor(env={"PYTHONPATH": str(ROOT)}))
        names[label] = exp.run(kubeconfig=kubeconfig)["metadata"]["name"]
    client = RecordClient(connect(kubeconfig))
    for name in names.values():
        wait_for(lambda n=name: (get_experiment(kubeconfig, "default", n).get("status") or {}).get("phase") == "Succeeded",
                 120, f"{name} to succeed", interval=0.3)
        # the series reaches the store in the round the attempt ends (a background copy)
        wait_for(lambda n=name: client.metric_series("default", n).get("items"), 60, f"{name}'s series in the store",
                 interval=0.3)
    with DashboardThread(kubeconfig) as dashboard:
        yield {"names": names, "dashboard": dashboard, "series": {n: client.metric_series("default", n) for n in names.values()}}


@pytest.fixture
def page(runs) -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            tab = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
            tab.set_default_timeout(WAIT_MS)
            tab.goto(runs["dashboard"].url)
            yield tab
        finally:
            chromium.close()


def test_the_record_server_answers_each_runs_series(runs):
    for label, name in runs["names"].items():
        doc = runs["series"][name]
        assert doc["source"] == "logstore"
        by_name = {item["name"]: item for item in doc["items"]}
        assert sorted(by_name) == ["acc", "diverged", "loss"]
        assert [p[0] for p in by_name["loss"]["points"]] == list(range(STEPS[label]))
        assert by_name["loss"]["points"][-1][1] == pytest.approx(1.0 / STEPS[label])
        assert by_name["diverged"]["points"] == [[0, "NaN"]]


def test_compare_plots_one_polyline_per_run_per_metric(page, runs):
    short, long = runs["names"]["short"], runs["names"]["long"]
    page.goto(f'{runs["dashboard"].base}/compare?e=default/{short}&e=default/{long}')
    for metric in ("train/loss", "train/acc"):
        svg = page.locator(f'svg.metric-plot[data-metric="{metric}"]')
        assert svg.count() == 1, metric
        lines = svg.locator("polyline.series")
        drawn = dict(lines.evaluate_all("els => els.map(e => [e.dataset.run, e.getAttribute('points').trim().split(/\\s+/).length])"))
        assert drawn == {short: STEPS["short"], long: STEPS["long"]}, (metric, drawn)
        counted = dict(lines.evaluate_all("els => els.map(e => [e.dataset.run, Number(e.dataset.points)])"))
        assert counted == drawn
        # accessible: named by its title and described (each run's point count), with the points as a table
        assert svg.locator("title").text_content() == f"{metric} by step"
        desc = svg.locator("desc").text_content()
        assert f"{short}: {STEPS['short']} points" in desc and f"{long}: {STEPS['long']} points" in desc
        table = page.locator(f'table.series-table[data-metric="{metric}"]')
        for name, steps in ((short, STEPS["short"]), (long, STEPS["long"])):
            assert table.locator(f'tbody tr[data-run="{name}"]').count() == steps
    # loss falls: the last point of each line is lower on the page (larger y) than its first
    for run in (short, long):
        coords = page.locator(f'svg.metric-plot[data-metric="train/loss"] polyline[data-run="{run}"]').get_attribute("points").split()
        assert float(coords[-1].split(",")[1]) > float(coords[0].split(",")[1])
    # a metric that is only NaN draws no line and says so; the table keeps the latest values
    assert page.locator('svg.metric-plot[data-metric="train/diverged"]').count() == 0
    loss = page.locator('#compare-metrics tr[data-metric="train/loss"] td').all_inner_texts()
    assert loss == [f"{1 / STEPS['short']:.4g}", f"{1 / STEPS['long']:.4g}"]
    assert "series from the log store" in page.locator("ul.series-sources").inner_text()
    _shot(page, "compare-plots")
