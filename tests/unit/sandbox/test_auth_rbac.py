"""RBAC rule matching and role resolution, case by case (the rules of evaluation_helpers.go)."""

from __future__ import annotations

import pytest

from kuberun_sandbox.apiserver.auth.attributes import Attributes, forbidden, from_request
from kuberun_sandbox.apiserver.auth.authn import ANONYMOUS, TokenAuthenticator, UserInfo, bearer_token
from kuberun_sandbox.apiserver.auth.rbac import RBACAuthorizer, applies_to, rule_allows
from kuberun_sandbox.apiserver.resources import Registry
from kuberun_sandbox.apiserver.routing import parse
from kuberun_sandbox.apiserver.store import Store

G = "rbac.authorization.k8s.io"


def res(verb: str, resource: str, group: str = "", sub: str = "", name: str = "", ns: str = "team-a") -> Attributes:
    return Attributes(verb, True, group, "v1", resource, sub, ns, name)


RULES = {
    "exact": {"apiGroups": ["kuberun.dev"], "resources": ["experiments"], "verbs": ["get", "list"]},
    "star-all": {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    "status-of-any": {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["patch"]},
    "named": {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"], "verbs": ["get"]},
    "urls": {"nonResourceURLs": ["/healthz", "/apis/*"], "verbs": ["get"]},
}


@pytest.mark.parametrize(("rule", "attrs", "allowed"), [
    ("exact", res("list", "experiments", "kuberun.dev"), True),
    ("exact", res("watch", "experiments", "kuberun.dev"), False),
    ("exact", res("get", "experiments", "other.dev"), False),
    ("exact", res("get", "experiments", "kuberun.dev", sub="status"), False),  # a subresource is its own resource
    ("star-all", res("delete", "pods", sub="log"), True),                       # "*" covers subresources
    ("status-of-any", res("patch", "experiments", "kuberun.dev", sub="status"), True),
    ("status-of-any", res("patch", "experiments", "kuberun.dev"), False),
    ("named", res("get", "configmaps", name="cfg"), True),
    ("named", res("get", "configmaps", name="other"), False),
    ("named", res("get", "configmaps"), False),                                 # a list has no name to match
    ("urls", Attributes("get", False, path="/healthz"), True),
    ("urls", Attributes("get", False, path="/apis/kuberun.dev"), True),
    ("urls", Attributes("post", False, path="/healthz"), False),
    ("urls", Attributes("get", False, path="/metrics"), False),
    ("exact", Attributes("get", False, path="/healthz"), False),
])
def test_rule_allows(rule, attrs, allowed):
    assert rule_allows(RULES[rule], attrs) is allowed


@pytest.mark.parametrize(("subject", "user", "applies"), [
    ({"kind": "User", "name": "alice"}, UserInfo("alice"), True),
    ({"kind": "User", "name": "alice"}, UserInfo("bob", ("alice",)), False),
    ({"kind": "Group", "name": "devs"}, UserInfo("bob", ("devs",)), True),
    ({"kind": "ServiceAccount", "name": "kuberun", "namespace": "kuberun-system"},
     UserInfo("system:serviceaccount:kuberun-system:kuberun"), True),
    ({"kind": "ServiceAccount", "name": "kuberun"}, UserInfo("system:serviceaccount:team-a:kuberun"), True),  # binding's ns
    ({"kind": "ServiceAccount", "name": "kuberun"}, UserInfo("system:serviceaccount:team-b:kuberun"), False),
])
def test_subjects(subject, user, applies):
    assert applies_to(subject, user, "team-a") is applies


def _store(*objs: dict) -> Store:
    store = Store()
    for plural, ns, obj in objs:
        store.put((G, plural, ns, obj["metadata"]["name"]), obj, "ADDED")
    return store


def _obj(name: str, ns: str = "", labels: dict | None = None, **body) -> dict:
    meta = {"name": name, "resourceVersion": "1", "labels": labels or {}, **({"namespace": ns} if ns else {})}
    return {"metadata": meta, **body}


def test_rolebinding_grants_only_inside_its_namespace_and_aggregation_is_followed():
    store = _store(
        ("clusterroles", "", _obj("edit", aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"agg": "edit"}}]})),
        ("clusterroles", "", _obj("exp-edit", labels={"agg": "edit"}, rules=[RULES["exact"]])),
        ("clusterroles", "", _obj("unlabelled", rules=[RULES["star-all"]])),
        ("rolebindings", "team-a", _obj("alice", "team-a", roleRef={"kind": "ClusterRole", "name": "edit"},
                                        subjects=[{"kind": "User", "name": "alice"}])),
    )
    authz, alice = RBACAuthorizer(store), UserInfo("alice", ("system:authenticated",))
    assert authz.authorize(alice, res("list", "experiments", "kuberun.dev"))[0]
    assert not authz.authorize(alice, res("list", "experiments", "kuberun.dev", ns="team-b"))[0]
    assert not authz.authorize(alice, res("list", "experiments", "kuberun.dev", ns=""))[0]
    assert not authz.authorize(alice, res("delete", "pods"))[0]  # the unlabelled role is not aggregated
    resource_rules, _ = authz.rules_for(alice, "team-a")
    assert resource_rules == [RULES["exact"]]


def test_forbidden_messages_are_kube_apiservers():
    alice = UserInfo("alice")
    assert forbidden(alice, res("list", "experiments", "kuberun.dev", ns="team-b")).message == (
        'experiments.kuberun.dev is forbidden: User "alice" cannot list resource "experiments" in API group "kuberun.dev" '
        'in the namespace "team-b"')
    assert forbidden(alice, res("get", "nodes", name="n1", ns="")).message == (
        'nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope')
    assert forbidden(ANONYMOUS, Attributes("get", False, path="/metrics")).message == (
        'forbidden: User "system:anonymous" cannot get path "/metrics"')


@pytest.mark.parametrize(("method", "path", "watch", "expected"), [
    ("GET", "/api/v1/namespaces/team-b/pods", False, ("list", "pods", "", "team-b", "")),
    ("GET", "/api/v1/namespaces/team-b/pods", True, ("watch", "pods", "", "team-b", "")),
    ("GET", "/api/v1/namespaces/team-b/pods/p/log", False, ("get", "pods", "log", "team-b", "p")),
    ("GET", "/api/v1/namespaces/team-b", False, ("get", "namespaces", "", "team-b", "team-b")),
    ("PUT", "/api/v1/namespaces/team-b/finalize", False, ("update", "namespaces", "finalize", "team-b", "team-b")),
    ("DELETE", "/apis/kuberun.dev/v1alpha1/namespaces/x/experiments", False, ("deletecollection", "experiments", "", "x", "")),
    ("PATCH", "/apis/unknown.dev/v1/namespaces/x/things/t/status", False, ("patch", "things", "status", "x", "t")),
])
def test_request_attributes_follow_the_url_shape(method, path, watch, expected):
    a = from_request(method, path, parse(path, Registry()), watch)
    assert (a.verb, a.resource, a.subresource, a.namespace, a.name) == expected


def test_tokens_are_stored_as_digests_and_survive_a_reload(tmp_path):
    path = tmp_path / "tokens.json"
    token = TokenAuthenticator(path).mint("alice", ["devs"])
    assert token not in path.read_text()
    other = TokenAuthenticator(path)  # another process reading the same file
    user = other.authenticate(token)
    assert user is not None and (user.username, user.groups) == ("alice", ("devs", "system:authenticated"))
    assert other.authenticate(token + "x") is None
    assert other.revoke(token) and TokenAuthenticator(path).authenticate(token) is None


@pytest.mark.parametrize(("header", "token"), [(None, None), ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", "")])
def test_bearer_token_header(header, token):
    assert bearer_token(header) == token
