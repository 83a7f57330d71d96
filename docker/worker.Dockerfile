# syntax=docker/dockerfile:1
# A Pagoda worker (host agent) with the native engine built for CUDA: it finds the host's GPUs,
# takes launch jobs from Redis and runs the model replicas. Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t pagoda-worker .
# Run it with the NVIDIA container runtime (docker-compose.yml asks for every GPU).
ARG CUDA_VERSION=13.0.0
ARG UBUNTU=ubuntu24.04
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS node

# The engine and the dependencies, on the CUDA toolkit (nvcc); cuBLASLt is loaded at run time.
FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake ninja-build g++ make python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Node (with npm and corepack) from the official image; its binaries run on this newer glibc.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && npm install -g pnpm@12
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY apps/dashboard/package.json apps/dashboard/
COPY native/package.json native/
COPY packages/cli/package.json packages/cli/
COPY packages/db/package.json packages/db/
COPY packages/engine/package.json packages/engine/
COPY packages/gguf/package.json packages/gguf/
COPY packages/protocol/package.json packages/protocol/
COPY packages/runner/package.json packages/runner/
COPY packages/server/package.json packages/server/
COPY packages/tokenizer/package.json packages/tokenizer/
COPY packages/worker/package.json packages/worker/
RUN pnpm install --frozen-lockfile --reporter=silent
COPY . .
# No GPU is visible during `docker build`: nvcc compiles for the architectures CMake is given, not
# for a probed device. PAGODA_BUILD_JOBS bounds the parallel compile.
ARG PAGODA_BUILD_JOBS=8
RUN bash packages/db/scripts/generate.sh \
 && PAGODA_CUDA=ON PAGODA_BUILD_JOBS=${PAGODA_BUILD_JOBS} bash native/scripts/build.sh

# The CUDA runtime libraries (cudart, cuBLASLt) without the toolkit.
FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU} AS runtime
COPY --from=node /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production \
    CHECKPOINT_DISABLE=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    PAGODA_MODEL_CACHE=/models
WORKDIR /app
COPY --from=build /app /app
RUN ln -s /app/bin/pagoda /usr/local/bin/pagoda && mkdir -p /models
VOLUME ["/models"]
# PAGODA_SERVER_URL, REDIS_URL and HF_TOKEN / HF_ENDPOINT come from the environment.
CMD ["pagoda", "worker", "--host", "0.0.0.0"]
