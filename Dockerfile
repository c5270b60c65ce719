# syntax=docker/dockerfile:1
# kuberun images, from one build of the repository:
#   docker build --target operator -t kuberun-operator .   (the default: last stage)
#   docker build --target task -t kuberun-task .           (base for task images)
# A task image for your own code: FROM kuberun-task, then `USER root`, install your packages
# into /opt/kuberun (the venv is first on PATH), copy your code, and `USER 65532` again.
#
# tests/helm/test_dockerfile.py lints this file (hadolint) and replays its pip commands in a
# fresh virtualenv, so keep every install a plain `pip ...` on one RUN line.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: a wheel of the repository and of every dependency, resolved once ---------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what the wheel is built from, so that editing tests or docs keeps this layer cached.
COPY pyproject.toml README.md ./
COPY sdk ./sdk
COPY operator ./operator
# A current pip first: the image's older resolver (23.x) cannot combine the operator extra's own
# extras (kuberun[slurm,archive,logstore]) with s3fs's exact fsspec pin and gives up after backtracking.
RUN pip install --upgrade "pip>=25.0" && pip wheel --wheel-dir /wheels ".[operator,ui]"

# --- base: a virtualenv owned by root, run by an unprivileged numeric user --------------------
FROM ${PYTHON_IMAGE} AS base
ENV VIRTUAL_ENV=/opt/kuberun \
    PATH=/opt/kuberun/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN python -m venv /opt/kuberun
WORKDIR /tmp

# --- task: what `python -m kuberun.runner` needs inside a task pod ----------------------------
FROM base AS task
# The wheels are bind-mounted, not copied, so that no layer of the image carries them.
# DL3013 (pin versions) does not apply: --no-index installs only the builder's wheels.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels kuberun
# 65532: the conventional "nonroot" id; numeric so that runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["python", "-m", "kuberun.runner"]

# --- operator: the kopf operator (the Helm chart's image; also its dashboard, `kuberun ui --in-cluster`) ---
FROM base AS operator
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "kuberun[operator,ui]"
USER 65532:65532
EXPOSE 8080
# Two glibc malloc arenas, not one per thread that allocates (kuberun_operator/footprint.py; docs/scale.md).
ENV MALLOC_ARENA_MAX=2
ENTRYPOINT ["kuberun-operator"]
