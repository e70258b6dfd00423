/** /api/activities/*: feeds, search, create, show and reply. */
import type { Hono } from "hono";
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

/** Registers the activity routes; static paths first so they win over `:uuid`. */
export function activityRoutes(app: Hono, deps: RouteDeps): void {
  const { services } = deps;
  app.get("/api/activities/home", async (c) => respond(c, await homeActivities(services)));
  app.get(
    "/api/activities/notifications",
    async (c) => respond(c, await notificationsActivities(services)),
  );
  app.get(
    "/api/activities/search",
    async (c) => respond(c, await searchActivities(services, c.req.query("term"))),
  );
  app.get("/api/activities/:handle{@[^/]*}", async (c) => {
    c.set(ROUTE_TEMPLATE, "/api/activities/@:handle");
    return respond(c, await userActivities(services, handleParam(c)));
  });
  app.post("/api/activities", async (c) => {
    const body = await readJsonObject(c, deps.noteBodySecrets);
    return respond(
      c,
      await createActivity(services, {
        userHandle: deps.currentUser,
        message: body.message,
        ttl: body.ttl,
      }),
    );
  });
  app.get("/api/activities/:uuid", async (c) => {
    return respond(c, await showActivity(services, c.req.param("uuid")));
  });
  app.post("/api/activities/:uuid/reply", async (c) => {
    const body = await readJsonObject(c, deps.noteBodySecrets);
    return respond(
      c,
      await createReply(services, {
        userHandle: deps.currentUser,
        activityUuid: c.req.param("uuid"),
        message: body.message,
      }),
    );
  });
}
