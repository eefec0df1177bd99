# stocktune: one image for the prep job, the workers and the dashboard (ENTRYPOINT is `stocktune`).
#
# CPU (default):  docker build -t stocktune:latest .
# NVIDIA GPU:     docker build -t stocktune:cuda \
#                   --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 \
#                   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 .
# The CUDA base image needs Python >= 3.11 from its distribution (Ubuntu 24.04 ships 3.12);
# the GPU itself is handed to the container by the NVIDIA container toolkit at run time.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    STOCKTUNE_CACHE=/app/runs/cache

# a CUDA base image has no Python; the python:* image has one. A venv either way (PEP 668 safe).
RUN if ! python3 -c "import venv, ensurepip" 2>/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv

# torch first and pinned, from the index chosen above (CPU wheels are ~200 MB, CUDA ones several GB),
# so that installing the project below finds it satisfied and never pulls a CUDA build by accident
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

WORKDIR /app
COPY pyproject.toml README.md ./
COPY common ./common
COPY data_prep ./data_prep
COPY model ./model
COPY tuner ./tuner
COPY cli ./cli
COPY studies ./studies
RUN pip install . && python3 -c "import common, data_prep, model, tuner, cli.main"

# runs/ (dataset cache, artifacts, checkpoints) is the shared volume; owned by the unprivileged user
RUN useradd --create-home --uid 1000 stocktune && mkdir -p /app/runs && chown stocktune:stocktune /app/runs
USER stocktune

ENTRYPOINT ["stocktune"]
CMD ["--help"]
