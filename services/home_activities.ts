import { type Activity, ok, type ServiceDeps, type ServiceResult } from "./types.ts";

/** HomeActivities: the home feed; the seed's `home-activities-mock-data` span. */
export function homeActivities(deps: ServiceDeps): Promise<ServiceResult<Activity[]>> {
  return deps.traced("home-activities-mock-data", (span) => {
    const now = deps.clock();
    const results = deps.store.activities(now);
    span.setAttribute("app.now", new Date(now).toISOString());
    span.setAttribute("app.result_length", results.length);
    deps.log.info("HomeActivities", { result_length: results.length });
    return ok(results);
  });
}
