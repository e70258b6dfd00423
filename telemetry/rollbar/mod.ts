/**
 * The Rollbar sink as the telemetry contract sees it: an error destination. The Rollbar SDK
 * is loaded only when ROLLBAR_ACCESS_TOKEN is set, after the server listens: reports made
 * before wait for it in the sink set's bounded buffer.
 */
import type { SinkPlugin } from "../types.ts";
import type { RollbarOptions } from "./reporter.ts";

/** The checked-out commit, when the app runs from a git work tree (not in the image). */
function gitCommit(): string | undefined {
  try {
    const head = Deno.readTextFileSync(".git/HEAD").trim();
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    const commit = ref ? Deno.readTextFileSync(`.git/${ref}`).trim() : head;
    return /^[0-9a-f]{40}$/.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/** Installs the Rollbar reporter from `config.rollbar`. */
export const rollbarSink: SinkPlugin<RollbarOptions> = {
  name: "rollbar",
  deferrable: (config) => config.rollbar ? ["errorDestination"] : undefined,
  async install({ config, diagnostic, resource, tuning }) {
    const section = config.rollbar;
    if (!section) return { startup: "Errors: Rollbar off (set ROLLBAR_ACCESS_TOKEN)" };
    const codeVersion = section.codeVersion ?? gitCommit();
    const { createRollbarReporter } = await import("./reporter.ts");
    const reporter = createRollbarReporter({
      accessToken: section.accessToken,
      environment: section.environment,
      ...(codeVersion ? { codeVersion } : {}),
      ...(section.endpoint ? { endpoint: section.endpoint } : {}),
      itemsPerMinute: section.itemsPerMinute,
      root: Deno.cwd(),
      ...(resource["host.name"] ? { host: resource["host.name"] } : {}),
      diagnostic,
      ...tuning,
    });
    return {
      startup: `Errors: Rollbar (${section.environment})`,
      sink: reporter,
      errorDestination: reporter,
    };
  },
};
