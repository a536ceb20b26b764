# syntax=docker/dockerfile:1
# CEMap image for Kubeflow tasks: the project installed, `kedro` on PATH, run from /app
# (each task runs `kedro run ... --env=cloud` here; docs/kubeflow.md).
#
#   CPU (default):
#     docker build -t cemap:cpu .
#   CUDA (PyTorch's cu128 wheels on NVIDIA's runtime image; Python 3.11 comes from uv):
#     docker build -t cemap:cuda \
#       --build-arg BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#   Object store other than S3/MinIO: --build-arg STORAGE_PACKAGES=gcsfs (GCS), =adlfs (Azure).

ARG BASE=python:3.11-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${BASE}
# Where torch comes from: the CPU-only wheels by default (about 1 GB smaller than CUDA's);
# empty means PyPI's default (CUDA) wheels.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# The fsspec filesystem for data_root in conf/cloud/globals.yml; not a project dependency.
ARG STORAGE_PACKAGES=s3fs

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    KEDRO_DISABLE_TELEMETRY=true \
    MPLBACKEND=Agg

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 cemap

# python:3.11-slim brings Python 3.11; on other bases (nvidia/cuda) uv fetches a standalone 3.11.
COPY --from=uv /uv /usr/local/bin/uv
RUN uv venv --seed --python 3.11 /opt/venv

WORKDIR /app

# Dependencies in their own layer, from pyproject alone: a code change does not reinstall torch.
COPY pyproject.toml README.md ./
COPY src/cemap/__init__.py src/cemap/__init__.py
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} . ${STORAGE_PACKAGES} \
    && pip uninstall -y cemap \
    && rm -rf build src/*.egg-info

COPY src ./src
RUN pip install --no-deps . && rm -rf build src/*.egg-info

COPY .telemetry ./
COPY conf ./conf
# conf/local holds credentials and is never copied; Kedro still expects the folder.
RUN mkdir -p conf/local data && chown -R cemap:cemap /app

USER cemap
ENTRYPOINT ["kedro"]
CMD ["info"]
