import { type Activity, invalid, ok, type ServiceDeps, type ServiceResult } from "./types.ts";
import { isBlank } from "./validate.ts";

/**
 * UserActivities: one author's feed. The X-Ray names are the seed's: `user_activities` with a
 * `mock-data` subsegment carrying `{now, result-size}` metadata.
 */
export function userActivities(
  deps: ServiceDeps,
  handle: string,
): Promise<ServiceResult<Activity[]>> {
  return deps.traced("user-activities", (span) => {
    if (isBlank(handle)) {
      span.addEvent("validation_failed", { "app.errors": "blank_user_handle" });
      return invalid<Activity[]>("blank_user_handle");
    }
    span.setAttribute("app.user_handle", handle);
    return deps.traced("mock-data", (data) => {
      const now = deps.clock();
      const results = deps.store.activitiesBy(handle, now);
      data.setAttribute("app.now", new Date(now).toISOString());
      data.setAttribute("app.result_size", results.length);
      span.setAttribute("app.result_length", results.length);
      return ok(results);
    });
  }, { xrayName: "user_activities" });
}
