# syntax=docker/dockerfile:1
# bitrix24-webhook-guard: build with dev dependencies, run with production ones only.
# Base image: Node.js 24 LTS ("Krypton"), Debian bookworm slim, pinned to an exact release.

FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci
# `npm run build` compiles everything tsconfig.json includes: src/, test/ and scripts/.
COPY src ./src
COPY test ./test
COPY scripts ./scripts
RUN npm run build

FROM node:24.21.0-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional: better-sqlite3 is for Node 20 only; Node 24 uses the built-in node:sqlite, so the image
# carries no native addon (and pg's optional Cloudflare socket is for Workers).
RUN npm ci --omit=dev --omit=optional && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/scripts ./dist/scripts
# The operator console shows each diagnosis's cause and fix from the runbook itself.
COPY docs/runbooks.md ./docs/runbooks.md
# The embedded store (SQLite) lives here: mount a volume at /app/data (Railway: Settings > Volumes, mount path
# /app/data), or set DATABASE_URL. Without either, every kept event is lost with the container. No VOLUME line:
# Railway refuses it, and an anonymous volume per container would hide the loss rather than prevent it.
ENV DATA_DIR=/app/data
RUN mkdir -p /app/data && chown node:node /app/data
# The container starts as root only so that the entrypoint can give a root-owned mounted volume to `node`;
# it then runs the service (and the CLI below) as `node` (uid 1000) with setpriv.
COPY docker/entrypoint.sh docker/bitrix24-webhook-guard /app/docker/
RUN ln -s /app/docker/bitrix24-webhook-guard /usr/local/bin/bitrix24-webhook-guard
ENTRYPOINT ["/app/docker/entrypoint.sh"]
EXPOSE 3000
# Slim images have no curl: probe /healthz with Node itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "require('http').get({host:'127.0.0.1',port:Number(process.env.PORT||3000),path:'/healthz',timeout:2000},(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]
# Exactly how `npm start` runs the compiled service: the OpenTelemetry preload first.
CMD ["node", "--require", "./dist/src/telemetry/preload.js", "dist/src/main.js"]
