/**
 * The container files, checked without a Docker engine: the Dockerfile and docker-compose.yml
 * are parsed and held against config.ts, deno.json and the installed Deno.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { CONFIG_VARIABLES, loadConfig } from "../config.ts";
import { parseDaemonAddress, parseDaemonTcpAddress } from "../telemetry/xray/mod.ts";

const ROOT = new URL("..", import.meta.url);

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, with comments dropped and continuation lines joined. */
async function dockerfile(): Promise<Instruction[]> {
  const text = await Deno.readTextFile(new URL("Dockerfile", ROOT));
  const joined = text.split("\n").filter((line) => !/^\s*#/.test(line)).join("\n")
    .replace(/\\\n/g, " ");
  return joined.split("\n").map((line) => line.trim()).filter((line) => line !== "").map(
    (line) => {
      const space = line.search(/\s/);
      return { op: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() };
    },
  );
}

interface Service {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  ports?: Array<string | number>;
  command?: string[];
  depends_on?: string[];
}

async function compose(): Promise<Record<string, Service>> {
  const doc = parse(await Deno.readTextFile(new URL("docker-compose.yml", ROOT)));
  return doc.services;
}

async function backend(): Promise<Service> {
  const service = (await compose())["backend-deno"];
  assert.ok(service, "a backend-deno service");
  return service;
}

/** Compose's `${NAME}` and `${NAME:-default}` substitution. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_, name: string, fallback?: string) => env[name] || (fallback ?? ""),
  );
}

function resolvedEnv(service: Service, env: Record<string, string>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.environment ?? {})) {
    result[key] = interpolate(String(value), env);
  }
  return result;
}

/** The container side of "host:container[/proto]" port mappings. */
function containerPorts(service: Service, protocol: "tcp" | "udp"): number[] {
  return (service.ports ?? []).map(String).filter((p) => (p.split("/")[1] ?? "tcp") === protocol)
    .map((p) => Number(p.split("/")[0]?.split(":").at(-1)));
}

const TRUTHY = /^(true|1|yes|on)$/i;

Deno.test("Dockerfile pins the official Deno image to the installed Deno version", async () => {
  const from = (await dockerfile()).filter((i) => i.op === "FROM");
  assert.equal(from.length, 1, "one stage");
  const match = /^denoland\/deno:(\d+\.\d+\.\d+)(@sha256:[0-9a-f]{64})?$/.exec(from[0]?.args ?? "");
  assert.ok(match, `pinned official image, got "${from[0]?.args}"`);
  assert.equal(match[1], Deno.version.deno, "tests run on the Deno the image ships");
});

Deno.test("Dockerfile caches dependencies in their own layer before copying the sources", async () => {
  const steps = await dockerfile();
  const index = (op: string, pattern: RegExp) =>
    steps.findIndex((i) => i.op === op && pattern.test(i.args));
  const copyManifests = index("COPY", /^deno\.json deno\.lock deps\.ts \.\/?$/);
  const install = index("RUN", /^deno install\b.*--frozen.*--entrypoint deps\.ts$/);
  const copyAll = index("COPY", /^\.\s+\.\/?$/);
  const cache = index("RUN", /^deno cache\b.*\bmain\.ts$/);
  assert.ok(copyManifests >= 0, "COPY deno.json deno.lock deps.ts first");
  assert.ok(install > copyManifests, "deno install after the manifests");
  assert.ok(copyAll > install, "sources after the dependency layer");
  assert.ok(cache > copyAll, "deno cache main.ts after the sources");
  // Nothing but the manifests is copied before the install, or every edit busts the cache.
  const copiesBefore = steps.slice(0, install).filter((i) => i.op === "COPY" || i.op === "ADD");
  assert.equal(copiesBefore.length, 1);
});

Deno.test("the image caches main.ts's npm packages only: deps.ts lists exactly those, no test-only ones", async () => {
  const roots = async (entry: string) => {
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(info.code, 0, new TextDecoder().decode(info.stderr));
    const graph = JSON.parse(new TextDecoder().decode(info.stdout));
    const names = (graph.modules as Array<{ specifier: string }>).map((m) => m.specifier)
      .filter((s) => s.startsWith("npm:"))
      // npm:/hono@4.13.19/cors -> hono@4.13.19; npm:/@scope/name@1.2.3/x -> @scope/name@1.2.3
      .map((s) => /^npm:\/?((?:@[^/]+\/)?[^/@]+@[^/]+)/.exec(s)?.[1] ?? s);
    return [...new Set(names)].sort();
  };
  const production = await roots("main.ts");
  assert.deepEqual(await roots("deps.ts"), production);
  for (const testOnly of ["playwright-core", "yaml"]) {
    assert.ok(!production.some((p) => p.startsWith(`${testOnly}@`)), `${testOnly} stays out`);
  }
  const imports = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).imports;
  for (const unused of ["aws-xray-sdk-core", "@opentelemetry/semantic-conventions"]) {
    assert.equal(imports[unused], undefined, `${unused} is imported by nothing`);
  }
});

Deno.test("Dockerfile runs as the non-root deno user", async () => {
  const users = (await dockerfile()).filter((i) => i.op === "USER").map((i) => i.args);
  const last = users.at(-1);
  assert.ok(last, "a USER instruction");
  assert.ok(!/^(root|0)(:|$)/.test(last), `runs as ${last}`);
  assert.equal(last, "deno");
});

Deno.test("Dockerfile's CMD is `deno task start` with the same narrow permissions", async () => {
  const steps = await dockerfile();
  const cmd = steps.filter((i) => i.op === "CMD");
  assert.equal(cmd.length, 1);
  const argv = JSON.parse(cmd[0]?.args ?? "") as string[];
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks;
  const words: string[] = tasks.start.split(/\s+/);
  // The task's leading VAR=value words are the image's ENV (an exec-form CMD has no shell).
  let leading = 0;
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[leading] ?? "")) leading++;
  const assignments = words.slice(0, leading);
  assert.deepEqual(assignments, ["DENO_NO_UPDATE_CHECK=1"]);
  assert.deepEqual(argv, words.slice(leading));
  const env = steps.filter((i) => i.op === "ENV").flatMap((i) => i.args.split(/\s+/));
  for (const assignment of assignments) assert.ok(env.includes(assignment), `ENV ${assignment}`);
  assert.ok(!argv.some((arg) => /^(-A|--allow-all|--allow-run)/.test(arg)));
  // Writes only to the embedded database's directory.
  assert.deepEqual(argv.filter((arg) => arg.startsWith("--allow-write")), [
    "--allow-write=./data",
  ]);
  assert.equal(steps.filter((i) => i.op === "ENTRYPOINT").length, 0, "the image's tini stays");
});

Deno.test("the container port agrees: compose 4567 = Dockerfile EXPOSE = config default", async () => {
  const expose = (await dockerfile()).filter((i) => i.op === "EXPOSE").map((i) => i.args);
  assert.deepEqual(expose, [String(loadConfig({}).port)]);
  const service = await backend();
  assert.deepEqual(service.ports?.map(String), ["4567:4567"]);
  assert.deepEqual(containerPorts(service, "tcp"), [loadConfig({}).port]);
  assert.equal(service.build, ".");
});

Deno.test("TRACE_DEMO is off in the image and in compose, and the demo is not shipped", async () => {
  const env = (await dockerfile()).filter((i) => i.op === "ENV" || i.op === "ARG");
  for (const step of env) {
    const demo = /TRACE_DEMO[= ]+"?([^"\s]*)/.exec(step.args);
    assert.ok(!demo || !TRUTHY.test(demo[1] ?? ""), `${step.op} ${step.args}`);
  }
  for (const [name, service] of Object.entries(await compose())) {
    const value = service.environment?.TRACE_DEMO;
    assert.ok(value === undefined || !TRUTHY.test(String(value)), name);
  }
  const ignore = await Deno.readTextFile(new URL(".dockerignore", ROOT));
  assert.ok(ignore.split("\n").map((l) => l.trim()).includes("demo"));
});

Deno.test("compose sets only variables config.ts reads on the backend", async () => {
  const keys = Object.keys((await backend()).environment ?? {});
  const known = new Set<string>(CONFIG_VARIABLES);
  assert.deepEqual(keys.filter((key) => !known.has(key)), []);
  assert.deepEqual(keys.sort(), [
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_XRAY_DAEMON_ADDRESS",
    "AWS_XRAY_SAMPLING",
    "AWS_XRAY_URL",
    "BACKEND_URL",
    "CLOUDWATCH_LOG_GROUP",
    "DATABASE_URL",
    "FRONTEND_URL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "ROLLBAR_ACCESS_TOKEN",
  ]);
});

Deno.test("compose's backend environment loads into the intended config", async () => {
  const service = await backend();
  const env = resolvedEnv(service, {
    GITPOD_WORKSPACE_ID: "omenking-cruddur-abc123",
    GITPOD_WORKSPACE_CLUSTER_HOST: "ws-us89.gitpod.io",
    HONEYCOMB_API_KEY: "hc-key",
    AWS_DEFAULT_REGION: "ca-central-1",
    AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "secret",
    ROLLBAR_ACCESS_TOKEN: "rb-token",
  });
  const config = loadConfig(env);
  assert.equal(config.serviceName, "backend-deno");
  assert.equal(config.frontendUrl, "https://3000-omenking-cruddur-abc123.ws-us89.gitpod.io");
  assert.equal(config.backendUrl, "https://4567-omenking-cruddur-abc123.ws-us89.gitpod.io");
  assert.equal(config.otel.tracesEndpoint, "https://api.honeycomb.io/v1/traces");
  assert.deepEqual(config.otel.exporters, ["otlp"]);
  assert.deepEqual(config.otel.headers, { "x-honeycomb-team": "hc-key" });
  assert.equal(config.xray.enabled, true);
  assert.equal(config.xray.daemonAddress, "xray-daemon:2000");
  assert.equal(
    config.xray.dynamicNamingPattern,
    "*4567-omenking-cruddur-abc123.ws-us89.gitpod.io*",
  );
  assert.equal(config.aws?.region, "ca-central-1");
  assert.equal(config.cloudwatch?.logGroup, "cruddur");
  assert.equal(config.rollbar?.accessToken, "rb-token");
  assert.equal(config.traceDemo, false);
});

Deno.test("compose's backend environment still loads with every host variable unset", async () => {
  const config = loadConfig(resolvedEnv(await backend(), {}));
  // Unset secrets turn their sinks off instead of stopping startup.
  assert.equal(config.aws, undefined);
  assert.equal(config.rollbar, undefined);
  assert.deepEqual(config.otel.headers, { "x-honeycomb-team": "" });
});

Deno.test("the X-Ray daemon address matches the daemon service's published UDP port", async () => {
  const services = await compose();
  const address = parseDaemonAddress((await backend()).environment?.AWS_XRAY_DAEMON_ADDRESS);
  const daemon = services[address.host];
  assert.ok(daemon, `a service named ${address.host}`);
  assert.deepEqual(containerPorts(daemon, "udp"), [address.port]);
  // The seed's daemon command names the same address (a single argv string, kept as the seed wrote it).
  assert.match(daemon.command?.join(" ") ?? "", new RegExp(`-b ${address.host}:${address.port}`));
  assert.ok((await backend()).depends_on?.includes(address.host));
  // Centralized sampling polls the daemon's TCP proxy: bound on the service's name, not on its
  // default 127.0.0.1, which another container cannot reach.
  const env = (await backend()).environment ?? {};
  assert.equal(env.AWS_XRAY_SAMPLING, "centralized");
  const tcp = parseDaemonTcpAddress(env.AWS_XRAY_DAEMON_ADDRESS);
  assert.match(daemon.command?.join(" ") ?? "", new RegExp(`-t ${tcp.host}:${tcp.port}`));
});

Deno.test("compose's db is the official postgres image, pinned, with a volume and a health check", async () => {
  const services = await compose();
  const db = services.db as Service & {
    volumes?: string[];
    healthcheck?: { test?: string[] };
  };
  assert.ok(db, "a db service");
  assert.match(db.image ?? "", /^postgres:\d+\.\d+/, "official image, pinned to a minor release");
  assert.equal(db.environment?.POSTGRES_DB, "cruddur");
  assert.ok(db.volumes?.some((v) => v.endsWith(":/var/lib/postgresql/data")), "data on a volume");
  assert.match(db.healthcheck?.test?.join(" ") ?? "", /pg_isready/);
  // The backend points at that service, database and credentials, and waits for it.
  const backendService = await backend();
  const env = resolvedEnv(backendService, {});
  const config = loadConfig(env);
  assert.equal(config.database.kind, "postgres");
  const url = new URL(env.DATABASE_URL ?? "");
  assert.equal(url.hostname, "db");
  assert.equal(Number(url.port), containerPorts(db, "tcp")[0]);
  assert.equal(url.pathname, "/cruddur");
  assert.equal(url.username, db.environment?.POSTGRES_USER);
  assert.equal(
    decodeURIComponent(url.password),
    interpolate(db.environment?.POSTGRES_PASSWORD ?? "", {}),
  );
  assert.ok(backendService.depends_on?.includes("db"));
});

Deno.test("the xray-daemon service is the seed's, its TCP proxy bound where the backend reaches it", async () => {
  const daemon = (await compose())["xray-daemon"];
  assert.deepEqual(daemon, {
    image: "amazon/aws-xray-daemon",
    environment: {
      AWS_ACCESS_KEY_ID: "${AWS_ACCESS_KEY_ID}",
      AWS_SECRET_ACCESS_KEY: "${AWS_SECRET_ACCESS_KEY}",
      AWS_REGION: "ca-central-1",
    },
    command: ["xray -o -b xray-daemon:2000 -t xray-daemon:2000"],
    ports: ["2000:2000/udp"],
  });
});

Deno.test(".dockerignore keeps out tests and secrets but nothing main.ts loads", async () => {
  const patterns = (await Deno.readTextFile(new URL(".dockerignore", ROOT))).split("\n")
    .map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"));
  for (const required of [".git", "tests", "node_modules", ".env"]) {
    assert.ok(patterns.includes(required), `ignores ${required}`);
  }
  const matchers = patterns.map((p) =>
    new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`)
  );
  const ignored = (path: string) =>
    path.split("/").some((_, i, parts) =>
      matchers.some((m) => m.test(parts.slice(0, i + 1).join("/")) || m.test(parts[i] ?? ""))
    );
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(info.code, 0, new TextDecoder().decode(info.stderr));
  const graph = JSON.parse(new TextDecoder().decode(info.stdout));
  const root = ROOT.href;
  const local = (graph.modules as Array<{ specifier: string }>).map((m) => m.specifier)
    .filter((s) => s.startsWith(root)).map((s) => s.slice(root.length));
  assert.ok(local.includes("main.ts") && local.includes("app.ts") && local.length > 20);
  // Files read at run time, beside the module graph.
  const migrations = [...Deno.readDirSync(new URL("services/store/migrations/", ROOT))]
    .map((entry) => `services/store/migrations/${entry.name}`);
  assert.ok(migrations.length > 0);
  const needed = [
    ...local,
    "deno.json",
    "deno.lock",
    "deps.ts",
    loadConfig({}).xray.samplingRulesPath,
    ...migrations,
  ];
  assert.deepEqual(needed.filter(ignored), []);
  for (
    const path of ["tests/config_test.ts", ".git/HEAD", "demo/index.html", ".env.local", "data"]
  ) {
    assert.ok(ignored(path), `${path} stays out`);
  }
});

Deno.test("the image builds PGlite's template where a new DATA_DIR is copied from, after caching the graph", async () => {
  const steps = await dockerfile();
  const index = (op: string, pattern: RegExp) =>
    steps.findIndex((i) => i.op === op && pattern.test(i.args));
  const cache = index("RUN", /^deno cache\b.*\bmain\.ts$/);
  const template = index("RUN", /^deno task pglite-template$/);
  assert.ok(template > cache, "deno task pglite-template after deno cache (offline: cached npm)");
  const users = steps.slice(0, template).filter((i) => i.op === "USER").map((i) => i.args);
  assert.equal(users.at(-1), "deno", "built as the server's user");
  // The task writes where the server looks for it: .cache under WORKDIR, made writable first.
  const task = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks;
  assert.match(task["pglite-template"], /--allow-write=\.\/\.cache\b/);
  const workdir = steps.find((i) => i.op === "WORKDIR")?.args;
  const { DEFAULT_TEMPLATE } = await import("../services/store/pglite_template.ts");
  assert.ok(DEFAULT_TEMPLATE.startsWith(new URL(".cache/", ROOT).pathname));
  const owned = steps.slice(0, template).some((i) =>
    i.op === "RUN" && /chown deno:deno .*\/app\/\.cache\b/.test(i.args) &&
    /mkdir -p .*\/app\/\.cache\b/.test(i.args)
  );
  assert.equal(workdir, "/app");
  assert.ok(owned, "/app/.cache exists and belongs to deno before the task runs");
});
