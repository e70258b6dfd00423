import { type Activity, invalid, ok, type ServiceDeps, type ServiceResult } from "./types.ts";
import { isBlank } from "./validate.ts";

/** SearchActivities: activities whose message contains the term. */
export function searchActivities(
  deps: ServiceDeps,
  term: string | undefined,
): Promise<ServiceResult<Activity[]>> {
  return deps.traced("search-activities", (span) => {
    if (isBlank(term)) {
      span.addEvent("validation_failed", { "app.errors": "search_term_blank" });
      return invalid<Activity[]>("search_term_blank");
    }
    const results = deps.store.search((term as string).trim(), deps.clock());
    span.setAttribute("app.result_length", results.length);
    return ok(results);
  });
}
