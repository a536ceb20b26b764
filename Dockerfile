# CEMap image for Kubeflow tasks: the project installed, `kedro` on PATH, run from /app
# (each task runs `kedro run ... --env=cloud` here; docs/kubeflow.md).
#
#   CPU (default: python:3.11-slim, PyTorch's CPU wheels):
#     docker build -t cemap:cpu .
#   CUDA (PyTorch's cu128 wheels on NVIDIA's runtime image; Python from its Ubuntu packages):
#     docker build -t cemap:cuda \
#       --build-arg BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#   Without an image registry (a base made from Debian's packages, scripts/debian-base-image.sh;
#   PyPI's torch wheel, as no CPU index is reachable):
#     docker build --network host -t cemap:rehearsal \
#       --build-arg BASE=cemap-base:bookworm --build-arg TORCH_INDEX_URL= .
#   Without a package index: a wheelhouse (pip download) served on the build's network, e.g.
#     --network host --build-arg WHEELS_URL=http://127.0.0.1:8000/
#   Object store other than S3/MinIO: --build-arg STORAGE_PACKAGES=gcsfs (GCS), =adlfs (Azure).
#
# One stage, no image but BASE to pull, and no BuildKit-only syntax: it builds with BuildKit and
# with the classic builder alike.

ARG BASE=python:3.11-slim
FROM ${BASE}
# Where torch comes from: the CPU-only wheels by default (about 1 GB smaller than CUDA's);
# empty means PyPI's default (CUDA) wheels.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# A pip --find-links location; when set, every package comes from there alone (--no-index).
ARG WHEELS_URL=
# The fsspec filesystem for data_root in conf/cloud/globals.yml; not a project dependency.
ARG STORAGE_PACKAGES=s3fs

# GIT_PYTHON_REFRESH: the image has no git, which MLflow would warn about three times a run.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    KEDRO_DISABLE_TELEMETRY=true \
    GIT_PYTHON_REFRESH=quiet \
    MPLBACKEND=Agg

# python:3.11-slim and the Debian base have Python with venv and CA certificates; on other
# bases (nvidia/cuda) apt installs what is missing (Ubuntu 24.04: Python 3.12).
RUN set -eu; \
    missing=""; \
    if ! python3 -c "import ensurepip, venv" 2>/dev/null; then missing="python3 python3-venv"; fi; \
    if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then missing="$missing ca-certificates"; fi; \
    if [ -n "$missing" ]; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -m venv /opt/venv; \
    useradd --create-home --uid 10001 cemap

WORKDIR /app

# Dependencies in their own layer, from pyproject alone: a code or README change does not
# reinstall torch (the README, pyproject's `readme`, is a placeholder until the project's own).
COPY pyproject.toml ./
COPY src/cemap/__init__.py src/cemap/__init__.py
RUN set -eu; \
    touch README.md; \
    if [ -n "$WHEELS_URL" ]; then \
        set -- --no-index --find-links "$WHEELS_URL"; \
    elif [ -n "$TORCH_INDEX_URL" ]; then \
        set -- --extra-index-url "$TORCH_INDEX_URL"; \
    else \
        set --; \
    fi; \
    pip install "$@" . ${STORAGE_PACKAGES}; \
    pip uninstall -y cemap; \
    rm -rf build src/*.egg-info README.md

COPY README.md ./
COPY src ./src
RUN set -eu; \
    if [ -n "$WHEELS_URL" ]; then set -- --no-index --find-links "$WHEELS_URL"; else set --; fi; \
    pip install "$@" --no-deps . && rm -rf build src/*.egg-info

COPY .telemetry ./
COPY conf ./conf
# conf/local holds credentials and is never copied; Kedro still expects the folder.
RUN mkdir -p conf/local data && chown -R cemap:cemap /app

USER cemap
ENTRYPOINT ["kedro"]
CMD ["info"]
