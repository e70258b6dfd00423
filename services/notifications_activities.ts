import { SpanStatusCode } from "../telemetry/otel_api.ts";
import { FIRST_PAGE } from "./pagination.ts";
import type { PageRequest, ReadVia } from "./store/types.ts";
import { type Activity, ok, type ServiceDeps, type ServiceResult, sourced } from "./types.ts";

/** NotificationsActivities: one page; the seed's `notification-mock-span`, status OK. */
export function notificationsActivities(
  deps: ServiceDeps,
  page: PageRequest = FIRST_PAGE,
): Promise<ServiceResult<Activity[]>> {
  return deps.traced("notification-mock-span", async (span) => {
    const now = deps.clock();
    const via: ReadVia = {};
    const { items: results, next } = await deps.store.notifications(now, page, via);
    span.setAttribute("notification", true);
    span.setAttribute("app.now", new Date(now).toISOString());
    span.setAttribute("app.result_length", results.length);
    span.setStatus({ code: SpanStatusCode.OK });
    return sourced(span, via, ok(results, next));
  });
}
