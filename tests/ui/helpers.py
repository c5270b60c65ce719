"""Test infrastructure for the dashboard: run it on a background loop, talk to it, shape the record."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kuberun.api import MERGE_PATCH, Op, connect
from kuberun.manage.query import RESOURCE, experiment_path


class DashboardThread:
    """``kuberun ui`` in-process on its own event loop thread (127.0.0.1, a free port); ``with`` stops it."""

    def __init__(self, kubeconfig: Path | str, **record_options: Any) -> None:
        self.kubeconfig, self.options = str(kubeconfig), record_options
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kuberun-ui-test", daemon=True)
        self.running: Any = None

    def __enter__(self) -> DashboardThread:
        from kuberun.ui import data, server

        self.thread.start()
        record = data.Record(self.kubeconfig, **self.options)
        self.running = asyncio.run_coroutine_threadsafe(server.start(record, 0), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.running is not None:
                asyncio.run_coroutine_threadsafe(self.running.stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    @property
    def url(self) -> str:
        """The address with the access token (what ``kuberun ui`` prints)."""
        return str(self.running.url)

    @property
    def base(self) -> str:
        return str(self.running.base_url)

    @property
    def csrf(self) -> str:
        return str(self.running.keys.csrf)


class Client:
    """A cookie-keeping HTTP client that has been let in with the access token (no redirects followed)."""

    def __init__(self, dashboard: DashboardThread, login: bool = True) -> None:
        self.base = dashboard.base
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        if login:
            status, headers, _ = self.get(dashboard.url)
            assert status == 303 and "kuberun_ui=" in headers.get("Set-Cookie", ""), (status, headers)

    def request(self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
        full = url if url.startswith("http") else self.base + url
        req = urllib.request.Request(full, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read().decode()

    def get(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
        return self.request("GET", url, headers=headers)

    def post(self, url: str, form: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
        from urllib.parse import urlencode

        return self.request("POST", url, urlencode(form).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})


def patch_experiment(kubeconfig: Path | str, namespace: str, name: str, body: dict[str, Any], status: bool = False) -> dict[str, Any]:
    """A merge patch of the Experiment (or its status subresource), as an operator or a tool would write it."""
    kube = connect(str(kubeconfig))
    path = experiment_path(namespace, name, "status" if status else None)
    return kube.request("PATCH", path, Op("patch", RESOURCE, namespace, name), body=body, content_type=MERGE_PATCH)


def get_experiment(kubeconfig: Path | str, namespace: str, name: str) -> dict[str, Any]:
    kube = connect(str(kubeconfig))
    return kube.get(experiment_path(namespace, name), Op("get", RESOURCE, namespace, name))


def recorded_metrics(obj: dict[str, Any], values: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A status patch giving each named task's latest attempt these final metric values (as the operator records them)."""
    tasks = []
    for task in (obj.get("status") or {}).get("tasks") or []:
        task = json.loads(json.dumps(task))
        if task["name"] in values and task.get("attempts"):
            task["attempts"][-1]["metrics"] = {k: {"value": v} for k, v in values[task["name"]].items()}
        tasks.append(task)
    return {"status": {"tasks": tasks}}
