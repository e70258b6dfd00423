import { FIRST_PAGE } from "./pagination.ts";
import type { PageRequest, ReadVia } from "./store/types.ts";
import { type Activity, ok, type ServiceDeps, type ServiceResult, sourced } from "./types.ts";

/** HomeActivities: one page of the home feed; the seed's `home-activities-mock-data` span. */
export function homeActivities(
  deps: ServiceDeps,
  page: PageRequest = FIRST_PAGE,
): Promise<ServiceResult<Activity[]>> {
  return deps.traced("home-activities-mock-data", async (span) => {
    const now = deps.clock();
    const via: ReadVia = {};
    const { items: results, next } = await deps.store.activities(now, page, via);
    span.setAttribute("app.now", new Date(now).toISOString());
    span.setAttribute("app.result_length", results.length);
    deps.log.info("HomeActivities", { result_length: results.length });
    return sourced(span, via, ok(results, next));
  });
}
