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

/** SearchActivities: one page of the activities whose message contains the term. */
export function searchActivities(
  deps: ServiceDeps,
  term: string | undefined,
  page: PageRequest = FIRST_PAGE,
): Promise<ServiceResult<Activity[]>> {
  return deps.traced("search-activities", async (span) => {
    if (isBlank(term)) {
      span.addEvent("validation_failed", { "app.errors": "search_term_blank" });
      return invalid<Activity[]>("search_term_blank");
    }
    if (!isStorable(term as string)) {
      span.addEvent("validation_failed", { "app.errors": "search_term_invalid_characters" });
      return invalid<Activity[]>("search_term_invalid_characters");
    }
    const via: ReadVia = {};
    const { items: results, next } = await deps.store.search(
      (term as string).trim(),
      deps.clock(),
      page,
      via,
    );
    span.setAttribute("app.result_length", results.length);
    return sourced(span, via, ok(results, next));
  });
}
