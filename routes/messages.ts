/** /api/message_groups and /api/messages. */
import type { Hono } from "hono";
import { createMessage, messageGroups, messages } from "../services/messages.ts";
import { readJsonObject } from "./body.ts";
import { handleParam } from "./handle.ts";
import { respond, ROUTE_TEMPLATE, type RouteDeps } from "./deps.ts";

/** Registers the direct-message routes. */
export function messageRoutes(app: Hono, deps: RouteDeps): void {
  const { services, currentUser } = deps;
  app.get(
    "/api/message_groups",
    (c) => respond(c, messageGroups(services, currentUser)),
  );
  app.get("/api/messages/:handle{@[^/]*}", (c) => {
    c.set(ROUTE_TEMPLATE, "/api/messages/@:handle");
    return respond(c, messages(services, currentUser, handleParam(c)));
  });
  app.post("/api/messages", async (c) => {
    const body = await readJsonObject(c, deps.noteBodySecrets);
    return respond(
      c,
      createMessage(services, {
        senderHandle: currentUser,
        receiverHandle: body.user_receiver_handle,
        message: body.message,
      }),
    );
  });
}
