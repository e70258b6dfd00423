import { type Activity, notFound, ok, type ServiceDeps, type ServiceResult } from "./types.ts";

/** ShowActivity: one activity with its replies (the original always answered 500 here). */
export function showActivity(deps: ServiceDeps, uuid: string): Promise<ServiceResult<Activity>> {
  return deps.traced("show-activity", async (span) => {
    span.setAttribute("app.activity_uuid", uuid);
    const activity = await deps.store.activity(uuid, deps.clock());
    if (!activity) {
      span.addEvent("not_found", { "app.errors": "activity_not_found" });
      return notFound<Activity>("activity_not_found");
    }
    span.setAttribute("app.replies_count", activity.replies_count);
    return ok(activity);
  });
}
