import type { ReadVia } from "./store/types.ts";
import {
  type Activity,
  notFound,
  ok,
  type ServiceDeps,
  type ServiceResult,
  sourced,
} from "./types.ts";

/** ShowActivity: one activity with its replies (the original always answered 500 here). */
export function showActivity(deps: ServiceDeps, uuid: string): Promise<ServiceResult<Activity>> {
  return deps.traced("show-activity", async (span) => {
    span.setAttribute("app.activity_uuid", uuid);
    const via: ReadVia = {};
    const activity = await deps.store.activity(uuid, deps.clock(), via);
    if (!activity) {
      span.addEvent("not_found", { "app.errors": "activity_not_found" });
      return sourced(span, via, notFound<Activity>("activity_not_found"));
    }
    span.setAttribute("app.replies_count", activity.replies_count);
    return sourced(span, via, ok(activity));
  });
}
