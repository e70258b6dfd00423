import { SpanStatusCode } from "@opentelemetry/api";
import { type Activity, ok, type ServiceDeps, type ServiceResult } from "./types.ts";

/** NotificationsActivities: the seed's `notification-mock-span`, status OK. */
export function notificationsActivities(deps: ServiceDeps): Promise<ServiceResult<Activity[]>> {
  return deps.traced("notification-mock-span", (span) => {
    const now = deps.clock();
    const results = deps.store.notifications(now);
    span.setAttribute("notification", true);
    span.setAttribute("app.now", new Date(now).toISOString());
    span.setAttribute("app.result_length", results.length);
    span.setStatus({ code: SpanStatusCode.OK });
    return ok(results);
  });
}
