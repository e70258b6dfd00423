/** /api/activities/*: feeds, search, create, show and reply. */
import type { Context, Hono } from "hono";
import type { PageRequest } from "../services/store/types.ts";
import type { ServiceResult } from "../services/types.ts";
import { createActivity } from "../services/create_activity.ts";
import { createReply } from "../services/create_reply.ts";
import { homeActivities } from "../services/home_activities.ts";
import { notificationsActivities } from "../services/notifications_activities.ts";
import { searchActivities } from "../services/search_activities.ts";
import { showActivity } from "../services/show_activity.ts";
import { userActivities } from "../services/user_activities.ts";
import { readJsonObject } from "./body.ts";
import { handleParam } from "./handle.ts";
import { respond, ROUTE_TEMPLATE, type RouteDeps } from "./deps.ts";
import { linkNextPage, readPage } from "./pagination.ts";

/** Registers the activity routes; static paths first so they win over `:uuid`. */
export function activityRoutes(app: Hono, deps: RouteDeps): void {
  const { services } = deps;
  /** A feed route: reads the page, runs the service, links the next page. */
  function feed<T>(c: Context, run: (page: PageRequest) => Promise<ServiceResult<T>>) {
    const page = readPage(c);
    return respond(
      c,
      run(page).then((result) => {
        linkNextPage(c, result, page);
        return result;
      }),
    );
  }
  app.get("/api/activities/home", (c) => feed(c, (page) => homeActivities(services, page)));
  app.get(
    "/api/activities/notifications",
    (c) => feed(c, (page) => notificationsActivities(services, page)),
  );
  app.get(
    "/api/activities/search",
    (c) => feed(c, (page) => searchActivities(services, c.req.query("term"), page)),
  );
  app.get("/api/activities/:handle{@[^/]*}", (c) => {
    c.set(ROUTE_TEMPLATE, "/api/activities/@:handle");
    const handle = handleParam(c);
    return feed(c, (page) => userActivities(services, handle, page));
  });
  app.post("/api/activities", async (c) => {
    const body = await readJsonObject(c, deps.noteBodySecrets);
    return respond(
      c,
      createActivity(services, {
        userHandle: deps.currentUser,
        message: body.message,
        ttl: body.ttl,
      }),
    );
  });
  app.get("/api/activities/:uuid", (c) => {
    return respond(c, showActivity(services, c.req.param("uuid")));
  });
  app.post("/api/activities/:uuid/reply", async (c) => {
    const body = await readJsonObject(c, deps.noteBodySecrets);
    return respond(
      c,
      createReply(services, {
        userHandle: deps.currentUser,
        activityUuid: c.req.param("uuid"),
        message: body.message,
      }),
    );
  });
}
