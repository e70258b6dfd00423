/**
 * `createApp(deps)`: the Hono application, with no I/O at import time. One middleware layer:
 * the telemetry (it must see every response, errors included), with the edge checks (Host,
 * CORS, rate and body limits; they also finish the answer's headers) run inside it, then the
 * routes; `handleError` (`onError`) is the one place errors become HTTP.
 */
import { type Context, Hono } from "hono";
import type { Config } from "./config.ts";
import { activityRoutes } from "./routes/activities.ts";
import { ROUTE_TEMPLATE, type RouteDeps } from "./routes/deps.ts";
import { errorResponse, HttpError } from "./routes/errors.ts";
import { addResponseHeader, responseBodyBytes } from "./routes/response.ts";
import { healthRoutes, rollbarTestRoute } from "./routes/health.ts";
import { messageRoutes } from "./routes/messages.ts";
import { fromRequestTarget } from "./routes/request_target.ts";
import { CORS_ALLOW_HEADERS, edgeChecks } from "./routes/edge.ts";
import { StaticFirstRouter } from "./routes/router.ts";
import { traceDemoRoutes } from "./routes/trace_demo.ts";
import type { Store } from "./services/store/types.ts";
import type { Clock } from "./services/types.ts";
import type { Telemetry } from "./telemetry/mod.ts";
import { HTTP_ERROR_TYPE_VAR } from "./telemetry/http.ts";
import { collectBodySecrets } from "./telemetry/scrub.ts";

/** Everything the app is built from. */
export interface AppDeps {
  config: Config;
  telemetry: Telemetry;
  store: Store;
  clock: Clock;
  /** The signed-in user until authentication arrives. */
  currentUser?: string;
}

export { CORS_ALLOW_HEADERS };

/** Paths and the methods they answer, for 405 with an Allow header. */
const METHODS: ReadonlyArray<[RegExp, string[]]> = [
  [/^\/api\/activities\/(home|notifications|search|@[^/]*)$/, ["GET", "HEAD"]],
  [/^\/api\/activities$/, ["POST"]],
  [/^\/api\/activities\/[^/]+\/reply$/, ["POST"]],
  [/^\/api\/activities\/[^/]+$/, ["GET", "HEAD"]],
  [/^\/api\/message_groups$/, ["GET", "HEAD"]],
  [/^\/api\/messages\/@[^/]*$/, ["GET", "HEAD"]],
  [/^\/api\/messages$/, ["POST"]],
  [/^\/api\/health-check$/, ["GET", "HEAD"]],
  [/^\/rollbar\/test$/, ["GET", "HEAD"]],
];

/** The origins CORS allows: FRONTEND_URL's and BACKEND_URL's, when set. */
export function corsOrigins(config: Pick<Config, "frontendUrl" | "backendUrl">): string[] {
  return [config.frontendUrl, config.backendUrl].filter((o): o is string => !!o)
    .map((o) => new URL(o).origin);
}

/** Creates the application. */
export function createApp(deps: AppDeps): Hono {
  const { config, telemetry } = deps;
  // Static paths are looked up, not walked: see routes/router.ts.
  const app = new Hono({ router: new StaticFirstRouter() });
  const origins = corsOrigins(config);

  // The checks, and on the way out every answer's security headers and the ones collected on
  // the way: built in by jsonResponse (routes/response.ts), set by this layer on any other.
  const checks = edgeChecks({
    origins,
    rateLimit: {
      perMinute: config.rateLimit.writesPerMinute,
      burst: config.rateLimit.writeBurst,
      clock: deps.clock,
    },
    bodyLimitBytes: config.bodyLimitBytes,
  });
  // The checks run inside the telemetry's layer (one Hono layer for both: a `compose` step
  // fewer per request), so they answer their own errors as a layer of their own would have.
  async function edge(c: Context, next: () => Promise<void>): Promise<Response | void> {
    try {
      return await checks(c, next);
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      c.error = error;
      c.res = await handleError(error, c);
    }
  }
  app.use(
    "*",
    telemetry.middleware({
      routeOf: (method, path) => routeOf(app, method, path),
      addResponseHeader,
      responseBytes: responseBodyBytes,
      inner: edge,
    }),
  );

  const routeDeps: RouteDeps = {
    services: {
      store: deps.store,
      clock: deps.clock,
      traced: telemetry.traced,
      log: telemetry.logger,
    },
    currentUser: deps.currentUser ?? "andrewbrown",
    noteBodySecrets(body) {
      const secrets = new Set<string>();
      collectBodySecrets(body, secrets);
      for (const secret of secrets) telemetry.markSecret(secret);
    },
    reportMessage: (message, level, c) => telemetry.reportMessage(message, level, c),
  };
  activityRoutes(app, routeDeps);
  messageRoutes(app, routeDeps);
  healthRoutes(app, {
    version: config.serviceVersion,
    database: deps.store,
    ...(config.healthDetail ? { detail: () => telemetry.stats() } : {}),
  });
  rollbarTestRoute(app, routeDeps);
  if (config.traceDemo) traceDemoRoutes(app, config);

  app.notFound((c) => {
    const allowed = METHODS.find(([pattern]) => pattern.test(c.req.path))?.[1];
    if (!allowed) return errorResponse(c, 404, ["route_not_found"]);
    addResponseHeader(c, "Allow", [...allowed, "OPTIONS"].join(", "));
    if (c.req.method === "OPTIONS") return c.body(null, 204);
    return errorResponse(c, 405, ["method_not_allowed"]);
  });

  function handleError(error: Error, c: Context): Response {
    if (error instanceof HttpError) {
      // The client's error, answered on purpose: not an exception on the span.
      c.error = undefined;
      if (error.errorType) c.set(HTTP_ERROR_TYPE_VAR, error.errorType);
      return errorResponse(c, error.status, error.codes);
    }
    telemetry.reportError(error, c, { id: routeDeps.currentUser, username: routeDeps.currentUser });
    return errorResponse(c, 500, ["internal_error"]);
  }
  app.onError(handleError);

  // Routing reads the request target, never the Host header (routes/request_target.ts).
  const dispatch = app.fetch;
  app.fetch = (request, env, executionCtx) =>
    dispatch(fromRequestTarget(request), env, executionCtx);
  return app;
}

/**
 * The route template `method` matches at `path`, without running anything: what a CORS
 * preflight asks about. A template written as a regex constraint (`:handle{@[^/]*}`) reads
 * as the template the route reports itself (`@:handle`).
 */
function routeOf(app: Hono, method: string, path: string): string | undefined {
  const [matches] = app.router.match(method, path);
  for (const [[, route]] of matches) {
    if (route.method === "ALL") continue; // middleware
    return route.path.replace(
      /:(\w+)\{([^}]*)\}/g,
      (_, name: string, pattern: string) => pattern.startsWith("@") ? `@:${name}` : `:${name}`,
    );
  }
  return undefined;
}

export { ROUTE_TEMPLATE };
