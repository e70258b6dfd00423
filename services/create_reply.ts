import {
  invalid,
  notFound,
  ok,
  type Reply,
  type ServiceDeps,
  type ServiceResult,
} from "./types.ts";
import { isBlank, messageErrors } from "./validate.ts";

/** Longest reply, in characters (the original's limit). */
export const REPLY_MAX_CHARS = 1024;

/** Input of CreateReply, as received (untrusted). */
export interface CreateReplyInput {
  userHandle: string;
  activityUuid: string;
  message: unknown;
}

/** CreateReply: adds a reply under a live activity, bumping its replies_count. */
export function createReply(
  deps: ServiceDeps,
  input: CreateReplyInput,
): Promise<ServiceResult<Reply>> {
  return deps.traced("create-reply", async (span) => {
    span.setAttribute("app.activity_uuid", input.activityUuid);
    const errors: string[] = [];
    if (isBlank(input.userHandle)) errors.push("user_handle_blank");
    if (isBlank(input.activityUuid)) errors.push("activity_uuid_blank");
    errors.push(...messageErrors(input.message, REPLY_MAX_CHARS));
    if (errors.length > 0) {
      span.addEvent("validation_failed", { "app.errors": errors.join(",") });
      return invalid<Reply>(...errors);
    }
    const now = deps.clock();
    const reply = await deps.store.addReply({
      uuid: crypto.randomUUID(),
      activityUuid: input.activityUuid,
      handle: input.userHandle,
      message: input.message as string,
      createdAt: now,
    }, now);
    if (!reply) {
      span.addEvent("not_found", { "app.errors": "activity_not_found" });
      return notFound<Reply>("activity_not_found");
    }
    span.setAttribute("app.reply_uuid", reply.uuid);
    return ok(reply);
  });
}
