"""The floor for bench/reconcile.py: a minimal kopf operator that creates one Job per Experiment.

It handles the same custom resource (same schema and CEL rules, so the API server's admission work
per object is the same) and does nothing else: no status, no ConfigMap, no Events.

    python bench/floor_operator.py KUBECONFIG
"""

from __future__ import annotations

import sys
from typing import Any

import kopf
from kubernetes import client, config

API = config.new_client_from_config(config_file=sys.argv[1])
BATCH = client.BatchV1Api(API)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    cfg = API.configuration  # the sandbox speaks HTTPS with its own CA and checks bearer tokens
    scheme, _, token = (cfg.get_api_key_with_prefix("BearerToken") or "").partition(" ")
    return kopf.ConnectionInfo(server=cfg.host, ca_path=cfg.ssl_ca_cert, scheme=scheme or None, token=token or None)


@kopf.on.create("kuberun.dev", "v1alpha1", "experiments")
def create_job(name: str, namespace: str, body: kopf.Body, **_: Any) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace,
           "labels": {"bench": "floor"}},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "x", "command": ["true"]}]}}}}
    kopf.adopt(job, owner=body)
    BATCH.create_namespaced_job(namespace, job)


if __name__ == "__main__":
    kopf.run(standalone=True, clusterwide=True)
