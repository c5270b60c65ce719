"""The dashboard in in-cluster mode (the chart's Deployment) against the sandbox: every user acts as themself.

The dashboard's own identity is the chart's ServiceAccount with exactly the chart's RBAC for it
(rendered with ``helm template`` and applied to the sandbox), so a passing test also proves those
grants suffice. Users: alice edits in team-a, a viewer only reads there, bob edits in team-b. Each
request is made with the user's own token; the API server's RBAC decides.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3

from tests.helm.chart import HELM, NAMESPACE, render
from tests.ui.helpers import get_experiment

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing (the chart's RBAC is applied): run .ci/install-helm.sh")

DASHBOARD_SA = "kr-kuberun-dashboard"  # the chart's name for release "kr"


class InCluster:
    """``kuberun ui --in-cluster`` on its own loop thread, on 127.0.0.1 (a free port); ``with`` stops it."""

    def __init__(self, own_kubeconfig: Path, namespace: str) -> None:
        self.own, self.namespace = own_kubeconfig, namespace
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kuberun-ui-incluster", daemon=True)

    def __enter__(self) -> InCluster:
        from kuberun.ui import data, incluster

        self.thread.start()
        own = data.connect(str(self.own))
        self.running = asyncio.run_coroutine_threadsafe(
            incluster.start(own, incluster.Scope(self.namespace), "127.0.0.1", 0), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.running.stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def _token(kubeconfig: Path) -> str:
    from kuberun.api import connect

    token = connect(str(kubeconfig)).bearer_token()
    assert token
    return token


def _apply(admin: Path, objs: list[dict[str, Any]]) -> None:
    from kubernetes import config, utils

    api = config.new_client_from_config(config_file=str(admin))
    try:
        for obj in objs:
            utils.create_from_dict(api, obj)
    finally:
        api.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import kuberun as kr
    from kuberun_sandbox import Sandbox
    from kuberun_sandbox.apiserver.auth.authn import service_account
    from kuberun_sandbox.kubeconfig import write_kubeconfig
    from tests.ui.test_browser import _grant_read

    with Sandbox(data_dir=tmp_path_factory.mktemp("ui-incluster"), operator=False, record_server=True) as sb:
        admin = sb.kubeconfig
        chart = render(values={"dashboard": {"enabled": True}})
        rbac = [o for o in chart if o["kind"] in ("ClusterRole", "ClusterRoleBinding")
                and o["metadata"]["labels"].get("app.kubernetes.io/component") == "dashboard"]
        assert {o["kind"] for o in rbac} == {"ClusterRole", "ClusterRoleBinding"}
        _apply(admin, rbac)
        user, groups = service_account(NAMESPACE, DASHBOARD_SA)
        own = write_kubeconfig(tmp_path_factory.mktemp("sa") / "dashboard.kubeconfig", sb.url, user=user,
                               token=sb.server.auth.mint(user, groups), ca_pem=sb.server.auth.ca_pem)
        alice = sb.mint_user("alice", namespace="team-a")
        bob = sb.mint_user("bob", namespace="team-b")
        viewer = sb.mint_user("viewer")
        _grant_read(admin, "viewer", "team-a")
        with kr.Experiment("alices-run", namespace="team-a") as exp:
            exp.add(kr.Script(inline="sleep 100"), name="t")
        name = exp.run(kubeconfig=str(alice))["metadata"]["name"]
        # an identity the chart's RBAC was not applied to: it cannot review tokens
        ungranted = write_kubeconfig(tmp_path_factory.mktemp("sa2") / "ungranted.kubeconfig", sb.url, user="nobody-sa",
                                     token=sb.server.auth.mint("nobody-sa", ()), ca_pem=sb.server.auth.ca_pem)
        with InCluster(own, "team-a") as dashboard, InCluster(ungranted, "team-a") as broken:
            yield {"base": dashboard.running.base_url, "admin": admin, "name": name, "own": own,
                   "broken": broken.running.base_url,
                   "tokens": {u: _token(k) for u, k in (("alice", alice), ("bob", bob), ("viewer", viewer), ("dashboard", own))}}


POOL = urllib3.PoolManager(retries=False)


def _get(world: dict[str, Any], path: str, token: str | None = None, cookie: str | None = None) -> urllib3.BaseHTTPResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if cookie:
        headers["Cookie"] = f"kuberun_ui_token={cookie}"
    return POOL.request("GET", world["base"] + path, headers=headers, redirect=False, timeout=30.0)


def _post(world: dict[str, Any], path: str, form: dict[str, str], token: str | None = None) -> urllib3.BaseHTTPResponse:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": world["base"]}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return POOL.request("POST", world["base"] + path, body=urlencode(form), headers=headers, redirect=False, timeout=30.0)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no form token on the page"
    return found.group(1)


@pytest.mark.parametrize("how", ["none", "bad header", "bad cookie", "garbage scheme"])
def test_no_token_or_a_bad_one_is_401_and_the_sign_in_page(world: dict[str, Any], how: str) -> None:
    if how == "none":
        resp = _get(world, "/")
    elif how == "bad header":
        resp = _get(world, "/", token="not-a-token")
    elif how == "bad cookie":
        resp = _get(world, "/", cookie="not-a-token")
    else:
        resp = POOL.request("GET", world["base"] + "/", headers={"Authorization": "Basic YWxpY2U6eA=="}, timeout=30.0)
    body = resp.data.decode()
    assert resp.status == 401
    assert 'id="login-form"' in body and f'data-name="{world["name"]}"' not in body
    for page in (f"/exp/team-a/{world['name']}", "/fragments/list", f"/compare?e={world['name']}&e=x"):
        again = _get(world, page, token="not-a-token")
        text = again.data.decode()  # the sign-in page (it may echo the path asked for, nothing of the record)
        assert again.status == 401 and 'id="login-form"' in text and "sleep 100" not in text and "team-a/t" not in text


def test_each_user_sees_what_their_rbac_allows(world: dict[str, Any]) -> None:
    tokens, name = world["tokens"], world["name"]
    mine = _get(world, "/", token=tokens["alice"])
    assert mine.status == 200 and f'data-name="{name}"' in mine.data.decode()
    assert "as <strong>alice</strong>" in mine.data.decode()
    viewing = _get(world, f"/exp/team-a/{name}", token=tokens["viewer"])
    assert viewing.status == 200 and "alices-run" in viewing.data.decode()
    for token in (tokens["bob"], tokens["dashboard"]):  # another tenant; the dashboard's own ServiceAccount
        for path in ("/", f"/exp/team-a/{name}"):
            resp = _get(world, path, token=token)
            assert resp.status == 403, (path, resp.status)
            assert "alices-run" not in resp.data.decode()


def test_a_user_forbidden_to_cancel_is_refused_and_nothing_changes(world: dict[str, Any]) -> None:
    tokens, name = world["tokens"], world["name"]
    page = _get(world, f"/exp/team-a/{name}/confirm/cancel", token=tokens["viewer"]).data.decode()
    refused = _post(world, f"/exp/team-a/{name}/action/cancel", {"csrf": _csrf(page)}, token=tokens["viewer"])
    text = html.unescape(refused.data.decode())
    assert refused.status == 403
    assert 'user "viewer" may not patch experiments.kuberun.dev in namespace "team-a"' in text, text
    assert get_experiment(world["admin"], "team-a", name)["spec"].get("shutdown") is None


def test_a_task_cancel_without_patch_rights_is_refused_by_rbac_and_the_owners_is_by_them(world: dict[str, Any]) -> None:
    tokens, name = world["tokens"], world["name"]
    confirm = f"/exp/team-a/{name}/confirm/cancel-task?task=t"
    page = _get(world, confirm, token=tokens["viewer"]).data.decode()
    assert 'name="task" value="t"' in page  # the UI offers it: the refusal must come from the API server
    refused = _post(world, f"/exp/team-a/{name}/action/cancel-task", {"csrf": _csrf(page), "task": "t"}, token=tokens["viewer"])
    assert refused.status == 403
    assert 'user "viewer" may not patch experiments.kuberun.dev' in html.unescape(refused.data.decode())
    assert get_experiment(world["admin"], "team-a", name)["spec"].get("cancelTasks") is None
    alices = _csrf(_get(world, confirm, token=tokens["alice"]).data.decode())
    done = _post(world, f"/exp/team-a/{name}/action/cancel-task", {"csrf": alices, "task": "t"}, token=tokens["alice"])
    assert done.status == 303, done.data.decode()[:300]
    assert get_experiment(world["admin"], "team-a", name)["spec"]["cancelTasks"] == [{"task": "t", "by": "alice"}]


def test_form_tokens_are_per_user_and_the_owner_can_cancel(world: dict[str, Any]) -> None:
    tokens, name = world["tokens"], world["name"]
    viewers = _csrf(_get(world, f"/exp/team-a/{name}/confirm/cancel", token=tokens["viewer"]).data.decode())
    alices = _csrf(_get(world, f"/exp/team-a/{name}/confirm/cancel", token=tokens["alice"]).data.decode())
    assert viewers != alices
    wrong = _post(world, f"/exp/team-a/{name}/action/cancel", {"csrf": viewers}, token=tokens["alice"])
    assert wrong.status == 403 and get_experiment(world["admin"], "team-a", name)["spec"].get("shutdown") is None
    done = _post(world, f"/exp/team-a/{name}/action/cancel", {"csrf": alices}, token=tokens["alice"])
    assert done.status == 303, done.data.decode()[:300]
    assert get_experiment(world["admin"], "team-a", name)["spec"]["shutdown"] == "Terminate"


def test_signing_in_sets_an_httponly_cookie_only_for_an_accepted_token(world: dict[str, Any]) -> None:
    bad = _post(world, "/login", {"token": "not-a-token", "next": "/"})
    assert bad.status == 401 and "Set-Cookie" not in bad.headers
    offsite = _post(world, "/login", {"token": world["tokens"]["alice"], "next": "//evil.example/"})
    assert offsite.status == 303 and offsite.headers["Location"] == "/"
    cookie = offsite.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    value = re.search(r"kuberun_ui_token=([^;]+)", cookie).group(1)
    listed = _get(world, "/", cookie=value.strip('"'))
    assert listed.status == 200 and world["name"] in listed.data.decode()
    foreign = POOL.request("POST", world["base"] + "/login", body=urlencode({"token": world["tokens"]["alice"]}),
                           headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"},
                           redirect=False, timeout=30.0)
    assert foreign.status == 403 and "Set-Cookie" not in foreign.headers


def test_health_answers_without_a_token_and_says_nothing_else(world: dict[str, Any]) -> None:
    resp = _get(world, "/healthz")
    assert resp.status == 200 and resp.data == b"ok"


def test_a_review_that_cannot_be_made_is_503_never_allowed(world: dict[str, Any]) -> None:
    """Its own identity without the chart's grant: the TokenReview is refused, so nobody gets in."""
    for token in (world["tokens"]["alice"], "not-a-token"):
        resp = POOL.request("GET", world["broken"] + "/", headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
        assert resp.status == 503, resp.status
        assert world["name"] not in resp.data.decode()
    signin = POOL.request("POST", world["broken"] + "/login", body=urlencode({"token": world["tokens"]["alice"]}),
                          headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": world["broken"]},
                          redirect=False, timeout=30.0)
    assert signin.status == 503 and "Set-Cookie" not in signin.headers


def test_a_users_client_carries_only_the_users_token() -> None:
    from kuberun.ui import data, incluster

    own = data.Kube(data.Credentials(server="https://127.0.0.1:1", cert_file="/own/cert.pem", key_file="/own/key.pem",
                                     headers={"Authorization": "Bearer dashboards-own"}, ca_file="/ca.crt",
                                     token_file="/var/run/secrets/kubernetes.io/serviceaccount/token"))
    creds = incluster.Users(own, incluster.Scope("ml")).credentials("users-token", "alice")
    assert creds.headers == {"Authorization": "Bearer users-token"}
    # No token file either: the client re-reads one every minute, which would swap the dashboard's token back in.
    assert (creds.cert_file, creds.key_file, creds.exec_plugin, creds.token_file) == (None, None, None, None)
    assert own.creds.headers == {"Authorization": "Bearer dashboards-own"}  # the dashboard's own are untouched
    assert (creds.server, creds.ca_file, creds.namespace, creds.user) == ("https://127.0.0.1:1", "/ca.crt", "ml", "alice")
