# namespace-ctl's image: `make image` (docker build --build-arg VERSION=... -t namespace-ctl:VERSION .).
# Two stages: `build` turns the project and every dependency into wheels; the final stage installs
# only those wheels (no index, no compiler, no pip cache) and runs as uid/gid 10001. It needs no
# writable root filesystem: HOME is /tmp (an emptyDir in the manifests) and the SQLite store, when
# used, lives on a volume at /var/lib/namespace-ctl. Needs BuildKit (Docker 23+: the default).
# Pinned by tag; pin by digest too (python:3.11.11-slim-bookworm@sha256:...) for reproducible builds.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY bot ./bot
# The web page's Bootstrap, FullCalendar, luxon and Chart.js: `make image` builds them first
# (`make web`: npm ci by web/package-lock.json), so the image holds no npm and loads no CDN.
RUN test -f bot/web/static/vendor/versions.json \
    || { echo 'bot/web/static/vendor is missing: build with make image (it runs make web)' >&2; exit 1; }
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
# The repository has no licence file yet: set the SPDX identifier when it has one.
ARG LICENSES=NOASSERTION
ARG SOURCE=https://github.com/REPLACE-ME/namespace-ctl
LABEL org.opencontainers.image.title="namespace-ctl" \
      org.opencontainers.image.description="Puts EKS dev namespaces to sleep after business hours; wakes one from Slack, charged to a cost center." \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}" \
      org.opencontainers.image.version="${VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp
# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels namespace-ctl \
    && groupadd --system --gid 10001 namespace-ctl \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin namespace-ctl \
    && mkdir -p /var/lib/namespace-ctl \
    && chown 10001:10001 /var/lib/namespace-ctl
# A relative store.path (the default `namespace-ctl.db`) lands on the data volume.
WORKDIR /var/lib/namespace-ctl
USER 10001:10001
EXPOSE 3000 9090
ENTRYPOINT ["namespace-ctl"]
CMD ["serve", "--port", "3000", "--no-console"]
