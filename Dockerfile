# syntax=docker/dockerfile:1
# The api and worker image (one image, two commands): `docker build -t fulfillment .`
#   api:     docker run fulfillment                       (node scripts/api.ts, port 3000)
#   worker:  docker run fulfillment node scripts/worker.ts
#   migrate: docker run fulfillment node scripts/migrate.ts
# temporal.docker-compose.yml runs all three against a production-like Temporal;
# deploy/kubernetes/ runs them in a cluster (docs/DEPLOY.md).
#
# Node 24 comes from the base image, not from the `node` devDependency: the runtime stage
# installs production dependencies only, and every command runs TypeScript with plain `node`
# (type stripping), never through npm.

# Same major as package.json's `node` devDependency; a full version tag for reproducible builds.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# --- deps: every dependency, dev tools included, for the build stage -------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install script that matters here is the `node` devDependency's
# download of a second Node 24, which the base image already is.
RUN npm ci --ignore-scripts --no-audit --no-fund

# --- build: the workflow bundle, built once instead of by webpack at every worker start ------
FROM deps AS build
COPY . .
RUN node scripts/build-workflow-bundle.ts --out dist/workflow-bundle.js

# --- runtime: production dependencies, the sources, the bundle; runs as `node` (uid 1000) ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# Owned by root and read-only to the service user: the process cannot rewrite its own code.
COPY . .
COPY --from=build /app/dist/workflow-bundle.js /app/dist/workflow-bundle.js
USER node
EXPOSE 3000 9464
# Liveness of the api (`/healthz`). Readiness is the orchestrator's: the api's `/readyz` (200
# while Temporal is away, "degraded"), the worker's `/healthz` and `/readyz` on its metrics port
# 9464 (compose and deploy/kubernetes probe them).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT ?? 3000}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "scripts/api.ts"]
