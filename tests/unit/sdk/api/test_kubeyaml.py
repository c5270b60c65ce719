"""The kubeconfig fast path reads what PyYAML reads, or declines: never a different document.

Each case is held against ``yaml.safe_load`` itself, and the seeded random documents below are
dumped by PyYAML in the block style kubectl writes, with the strings most likely to be misread.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from kuberun.api import kubeyaml

KUBECTL_WRITTEN = """\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM+/w==
    server: https://ABC.gr7.us-west-2.eks.amazonaws.com
  name: arn:aws:eks:us-west-2:123456789012:cluster/prod
- cluster:
    insecure-skip-tls-verify: true
    proxy-url: http://proxy.corp:3128
    server: https://127.0.0.1:40321
    tls-server-name: kubernetes.default
  name: kind
contexts:
- context:
    cluster: arn:aws:eks:us-west-2:123456789012:cluster/prod
    namespace: team-a
    user: eks-user
  name: eks
- context:
    cluster: kind
    user: kind-admin
  name: kind
current-context: eks
kind: Config
preferences: {}
users:
- name: kind-admin
  user:
    token: abc.def_ghi-jkl
- name: certs
  user:
    client-certificate: /home/u/.kube/u.crt
    client-key: ~/.kube/u.key
- name: eks-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - eks
      - get-token
      - --cluster-name
      - prod
      command: aws
      env:
      - name: AWS_PROFILE
        value: prod
      - name: EMPTY
        value: ''
      interactiveMode: IfAvailable
      provideClusterInfo: false
      installHint: null
"""

READ = [
    KUBECTL_WRITTEN,
    "---\napiVersion: v1\nkind: Config\n",
    "# a comment\nclusters:\n  - name: a\n    cluster:\n      server: 'https://x'\n",
    "users:\n-\n  name: u\n  user:\n    password: \"p@ss word\"\n",
    "users:\n- name: u\n  user:\n    username: 'it''s'\n    port: 6443\n    weight: -3\n",
    '{"apiVersion": "v1", "clusters": [{"name": "k", "cluster": {"server": "https://h"}}]}',
    "a:\nb: []\nc: x#y\n",
    "args:\n- -v\n- --cluster-name=x\n",
]

DECLINED = [
    "a: &x 1\nb: *x\n",  # anchors
    "a: !!str 5\n",  # tags
    "a: |\n  line\n",  # block scalars
    "a: >-\n  folded\n",
    "a: plain\n  continued\n",  # a multi-line plain scalar
    "a: {b: c}\n",  # flow collections
    "a: [1, 2]\n",
    "a: 1.5\n", "a: 2026-01-01\n", "a: 0755\n", "a: 0x1f\n", "a: 1_000\n", "a: 1:20\n", "a: .inf\n",
    "a: b # comment\n",
    "a: \"\\x41\"\n",  # YAML's escapes are not JSON's
    '"quoted key": v\n',
    "on: x\n",  # a key PyYAML reads as True
    "a: b: c\n",
    "a:\tb\n",
    "---\na: 1\n---\nb: 2\n",
    "a: - x\n", "a: -1.5\n", "a: <<\n", "a: =\n", "a: ?\n", "a: 'open\n",
    "\ufeffa: 1\n", "a: x\x0cy\n",
    "just a scalar\n", "",
]


@pytest.mark.parametrize("text", READ, ids=range(len(READ)))
def test_read_as_pyyaml_reads_it(text: str) -> None:
    got = kubeyaml.load(text)
    assert got is not None
    assert got == yaml.safe_load(text)


@pytest.mark.parametrize("text", DECLINED, ids=range(len(DECLINED)))
def test_anything_else_is_left_to_pyyaml(text: str) -> None:
    assert kubeyaml.load(text) is None


TRICKY = ["yes", "No", "ON", "off", "null", "~", "", " ", "1", "-1", "+1", "01", "1.0", "1e3", "0o7", "0b1",
          "2026-12-02", "12:30", ".nan", "a: b", "a:b", "a #b", "#a", "- a", "-a", "[x]", "{x}", "*a", "&a", "!a",
          "|", ">", "%a", "@a", "`a", "'a'", '"a"', "a'b", 'a"b', "a\\b", "é", "x\ny", " lead", "trail ", "=", "<<",
          "https://h:6443/p?q=1#f", "LS0t+/==", "arn:aws:eks:r:1:cluster/x", "client.authentication.k8s.io/v1"]


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth < 3 and roll < 0.25:
        return {rng.choice(["name", "server", "token", "args", "env", "a-b", "x.y", "k/v", "on", "1"]) + str(i):
                _value(rng, depth + 1) for i in range(rng.randint(0, 3))}
    if depth < 3 and roll < 0.45:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice([*TRICKY, True, False, None, 0, 7, -42, 1.5])


def test_random_documents_in_kubectls_style_read_the_same_or_are_declined() -> None:
    rng = random.Random(18)
    read = 0
    for _ in range(400):
        doc = {"apiVersion": "v1", "users": [{"name": "u", "user": _value(rng, 0)}], "extra": _value(rng, 0)}
        text = yaml.safe_dump(doc, default_flow_style=False)
        got = kubeyaml.load(text)
        if got is not None:
            assert got == yaml.safe_load(text), text
            read += 1
    assert read > 100  # the fast path is not simply declining everything
