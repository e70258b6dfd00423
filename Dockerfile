# Cruddur backend on Deno. Pinned to the Deno release the lockfile and tests were made with;
# tests/containers_test.ts fails when this tag and the local `deno --version` drift apart.
FROM denoland/deno:2.9.6

WORKDIR /app

# Deno's own update check off: a `deno run` that lives past half a second otherwise looks up
# dl.deno.land, from the build's `deno task` and from every container start (deno.json's tasks
# say the same; tests/no_egress_test.ts).
ENV DENO_NO_UPDATE_CHECK=1

# Dependencies in their own layer: rebuilt only when deno.json, deno.lock or deps.ts change.
# Only the production packages (deps.ts, which tests keep equal to main.ts's graph) are cached,
# not the whole import map: the test-only packages never enter the image. The image already
# owns DENO_DIR (/deno-dir) by the unprivileged `deno` user, so the cache is written as that
# user and the sources below stay root-owned and read-only to the server.
COPY deno.json deno.lock deps.ts ./
USER deno
RUN deno install --frozen --entrypoint deps.ts

USER root
COPY . .
# The embedded database (PGlite, when DATABASE_URL is unset) is the only thing written: one
# directory the server owns, a volume so it outlives the container. .cache receives PGlite's
# prebuilt cluster below (the build writes it; the server only reads it).
RUN mkdir -p /app/data /app/.cache && chown deno:deno /app/data /app/.cache
VOLUME /app/data
USER deno
# Type-check and cache the whole module graph now, so startup needs no network.
RUN deno cache --frozen main.ts
# PGlite's initdb'd cluster (deno task pglite-template, offline: PGlite's WASM is in the cached
# npm package), so a container's first start copies it into the empty /app/data instead of
# running initdb in WASM (about 10 s of CPU → 2.6 s; services/store/pglite_template.ts).
# .dockerignore keeps a local .cache out: the image's template is always this build's.
RUN deno task pglite-template

EXPOSE 4567

# Same permissions as `deno task start`: no --allow-all, no subprocesses, writes to ./data only.
# TRACE_DEMO stays at its default (off); the demo's files are not in the image (.dockerignore).
# Run in /app next to deno.json, so its "unstable": ["net"] applies: the X-Ray sink sends
# through Deno.DatagramConn (node:dgram would be the slower fallback).
# A 2 MB young generation: about 50 MB less peak RSS under load for about 4% more CPU
# (measured with deno task bench; see README "Performance"). The old generation grows to 2x what
# the last full GC left alive, not V8's up-to-4x: ~50 MB less peak RSS for the same CPU (V8's
# memory balancer, measured too, saved less memory and cost far more collections).
CMD ["deno", "run", "--v8-flags=--max-semi-space-size=2,--heap-growing-percent=100", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "--allow-write=./data", "main.ts"]
