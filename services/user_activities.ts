import { FIRST_PAGE } from "./pagination.ts";
import type { PageRequest, ReadVia } from "./store/types.ts";
import {
  type Activity,
  invalid,
  ok,
  type ServiceDeps,
  type ServiceResult,
  sourced,
} from "./types.ts";
import { isBlank, isStorable } from "./validate.ts";

/**
 * UserActivities: one author's feed. The X-Ray names are the seed's: `user_activities` with a
 * `mock-data` subsegment carrying `{now, result-size}` metadata.
 */
export function userActivities(
  deps: ServiceDeps,
  handle: string,
  page: PageRequest = FIRST_PAGE,
): Promise<ServiceResult<Activity[]>> {
  return deps.traced("user-activities", (span) => {
    if (isBlank(handle)) {
      span.addEvent("validation_failed", { "app.errors": "blank_user_handle" });
      return invalid<Activity[]>("blank_user_handle");
    }
    if (!isStorable(handle)) {
      span.addEvent("validation_failed", { "app.errors": "user_handle_invalid_characters" });
      return invalid<Activity[]>("user_handle_invalid_characters");
    }
    span.setAttribute("app.user_handle", handle);
    return deps.traced("mock-data", async (data) => {
      const now = deps.clock();
      const via: ReadVia = {};
      const { items: results, next } = await deps.store.activitiesBy(handle, now, page, via);
      data.setAttribute("app.now", new Date(now).toISOString());
      data.setAttribute("app.result_size", results.length);
      span.setAttribute("app.result_length", results.length);
      return sourced(data, via, ok(results, next));
    });
  }, { xrayName: "user_activities" });
}
