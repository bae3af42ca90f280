# syntax=docker/dockerfile:1
# One image for every kafka-restore process: the controller (default CMD), Celery workers and
# beat (`celery -A workers worker|beat`) and Flower (`celery -A workers flower`).
# The Helm chart runs it as uid/gid 10001 with a read-only root filesystem and /tmp as scratch.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# A C compiler for the record parser (restore_jobs/backup/_records.c), in this stage only: without
# it the package still installs, with the slower Python parser.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/kafka-restore
# README.m[d]: setup.cfg reads README.md as long_description; the glob keeps the build working
# while the file does not exist yet.
COPY pyproject.toml setup.cfg setup.py README.m[d] ./
COPY restore_jobs ./restore_jobs
COPY controller ./controller
COPY workers ./workers
# Runtime dependencies only (install_requires); the dev extra is never installed.
RUN /opt/kafka-restore/bin/pip install .

FROM python:3.11-slim
LABEL org.opencontainers.image.title="kafka-restore" \
      org.opencontainers.image.description="Restores Kafka topics from OSO kafka-backup backups" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin app
COPY --from=build /opt/kafka-restore /opt/kafka-restore
ENV PATH=/opt/kafka-restore/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
WORKDIR /opt/kafka-restore
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# 8080: controller /healthz, /readyz, /metrics. 5555: Flower.
EXPOSE 8080 5555
CMD ["kafka-restore-controller"]
