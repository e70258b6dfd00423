import { type Activity, invalid, ok, type ServiceDeps, type ServiceResult } from "./types.ts";
import { isBlank, messageErrors } from "./validate.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The original's ttl choices and their lengths. */
export const TTLS: Readonly<Record<string, number>> = {
  "30-days": 30 * DAY,
  "7-days": 7 * DAY,
  "3-days": 3 * DAY,
  "1-day": DAY,
  "12-hours": 12 * HOUR,
  "3-hours": 3 * HOUR,
  "1-hour": HOUR,
};

/** Longest activity, in characters. */
export const ACTIVITY_MAX_CHARS = 280;

/** Input of CreateActivity, as received (untrusted). */
export interface CreateActivityInput {
  userHandle: string;
  message: unknown;
  ttl: unknown;
}

/** CreateActivity: validates, then stores an activity that lives for its ttl. */
export function createActivity(
  deps: ServiceDeps,
  input: CreateActivityInput,
): Promise<ServiceResult<Activity>> {
  return deps.traced("create-activity", async (span) => {
    const ttlMs = typeof input.ttl === "string" && Object.hasOwn(TTLS, input.ttl)
      ? TTLS[input.ttl]
      : undefined;
    const errors: string[] = [];
    if (ttlMs === undefined) errors.push("ttl_blank");
    if (isBlank(input.userHandle)) errors.push("user_handle_blank");
    errors.push(...messageErrors(input.message, ACTIVITY_MAX_CHARS));
    if (ttlMs === undefined || errors.length > 0) {
      span.addEvent("validation_failed", { "app.errors": errors.join(",") });
      return invalid<Activity>(...errors);
    }
    span.setAttribute("app.ttl", input.ttl as string);
    const now = deps.clock();
    const activity = await deps.store.addActivity({
      uuid: crypto.randomUUID(),
      handle: input.userHandle,
      message: input.message as string,
      createdAt: now,
      expiresAt: now + ttlMs,
    });
    span.setAttribute("app.activity_uuid", activity.uuid);
    span.setAttribute("app.result_length", 1);
    deps.log.info("CreateActivity", { activity_uuid: activity.uuid, ttl: input.ttl });
    return ok(activity);
  });
}
