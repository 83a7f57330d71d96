# syntax=docker/dockerfile:1
# The Pagoda server (supervisor): REST, OpenAI proxy, dashboard, job producer. No GPU and no engine:
# replicas run on workers. Build from the repository root:
#   docker build -f docker/server.Dockerfile -t pagoda-server .
ARG NODE_IMAGE=node:20-bookworm-slim

# Dependencies first, from the manifests alone, so source edits do not reinstall them.
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN npm install -g pnpm@12
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

# Sources, the Prisma clients (generated offline) and the dashboard bundle.
FROM deps AS build
COPY . .
RUN bash packages/db/scripts/generate.sh \
 && if [ -f apps/dashboard/index.html ]; then pnpm --filter @pagoda/dashboard run build; fi

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    CHECKPOINT_DISABLE=1 \
    PAGODA_HOST=0.0.0.0 \
    PAGODA_PORT=9997 \
    PAGODA_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app /app
RUN ln -s /app/bin/pagoda /usr/local/bin/pagoda && mkdir -p /data
VOLUME ["/data"]
EXPOSE 9997
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PAGODA_PORT || 9997) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# DATABASE_URL (postgresql://...) and REDIS_URL come from the environment; PAGODA_ADMIN_KEY must be
# set for the server to listen beyond loopback.
CMD ["pagoda", "start"]
