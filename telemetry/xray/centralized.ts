/**
 * Centralized X-Ray sampling (AWS_XRAY_SAMPLING=centralized), as the X-Ray SDKs do it: the
 * sampling rules set up in X-Ray (the seeds' `aws xray create-sampling-rule`) are read through
 * the daemon's TCP proxy every 5 minutes, and every 10 seconds each rule's counts go back and
 * its share of the fleet-wide reservoir comes back (GetSamplingTargets). Until the first rules
 * arrive, and whenever the daemon cannot be reached, the local rule decides.
 *
 * The request path only reads plain state (`sample` is synchronous); the polls run in their
 * own unref'd timers, each fetch bounded in time and in bytes.
 */
import { readBounded } from "../util/body.ts";
import { throttledDiagnostic } from "../util/throttle.ts";
import { errorText } from "../util/errors.ts";
import { ruleMatcher, type SampleDecider, type SamplingRequest } from "./sampling.ts";

/** The SDKs' periods. */
export const RULES_INTERVAL_MS = 5 * 60 * 1000;
export const TARGETS_INTERVAL_MS = 10 * 1000;
const FETCH_TIMEOUT_MS = 2000;
/** GetSamplingRules pages hold at most 100 rules of a few hundred bytes. */
const MAX_ANSWER_BYTES = 1024 * 1024;
/**
 * Rules kept at most, by priority: X-Ray allows 25 per region besides the Default; each request
 * tries them in turn, so a proxy answering thousands must not make requests slower.
 */
export const MAX_RULES = 100;

/** One rule from the service, with its reservoir and the counts not yet reported. */
interface RemoteRule {
  name: string;
  priority: number;
  fixedRate: number;
  matches: (request: SamplingRequest) => boolean;
  /** A rule with a reservoir of 0 borrows none: its fixed rate alone decides. */
  canBorrow: boolean;
  /** Requests a second this instance may sample, from the last target; undefined: none yet. */
  quota: number | undefined;
  quotaUntilMs: number;
  second: number;
  used: number;
  borrowSecond: number;
  requests: number;
  sampled: number;
  borrowed: number;
  /** Reported every this many 10 s rounds (a target's `Interval` / 10), and rounds since. */
  reportEvery: number;
  rounds: number;
}

/** Options of {@linkcode createCentralizedSampler}. */
export interface CentralizedSamplerOptions {
  /** The daemon's TCP proxy, e.g. http://127.0.0.1:2000. */
  endpoint: string;
  /** Decides until rules arrive and while the daemon is unreachable. */
  fallback: SampleDecider;
  diagnostic: (message: string) => void;
  now?: () => number;
  random?: () => number;
  /** 24 hex characters naming this instance to the service (random by default). */
  clientId?: string;
  rulesIntervalMs?: number;
  targetsIntervalMs?: number;
}

/** The sampler and its polling lifecycle. */
export interface CentralizedSampler {
  sample: SampleDecider;
  /** Fetches the rules now and keeps polling; resolves after the first attempt. */
  start(): Promise<void>;
  /** Stops polling and cancels a fetch in flight. */
  stop(): void;
  /** Rules in force (0 while the local rule decides). */
  ruleCount(): number;
}

/** Builds the sampler; nothing is fetched before `start()`. */
export function createCentralizedSampler(options: CentralizedSamplerOptions): CentralizedSampler {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const clientId = options.clientId ?? randomClientId();
  const report = throttledDiagnostic(options.diagnostic, { prefix: "xray", now });
  const base = options.endpoint.replace(/\/+$/, "");
  let rules: RemoteRule[] = [];
  let rulesFetchedMs = 0;
  let stopped = false;
  const abort = new AbortController();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  function sample(request: SamplingRequest): boolean {
    if (rules.length === 0) return options.fallback(request);
    const rule = rules.find((r) => r.matches(request));
    if (rule === undefined) return options.fallback(request);
    rule.requests++;
    const t = now();
    const second = Math.floor(t / 1000);
    let take = false;
    if (rule.quota !== undefined && t < rule.quotaUntilMs) {
      if (rule.second !== second) {
        rule.second = second;
        rule.used = 0;
      }
      if (rule.used < rule.quota) {
        rule.used++;
        take = true;
      }
    } else if (rule.canBorrow && rule.borrowSecond !== second) {
      // No quota yet (or it expired): one request a second is borrowed, as the SDKs do.
      rule.borrowSecond = second;
      rule.borrowed++;
      take = true;
    }
    if (take || random() < rule.fixedRate) {
      rule.sampled++;
      return true;
    }
    return false;
  }

  async function call(path: string, body: unknown): Promise<Record<string, unknown>> {
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]);
    const response = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      redirect: "error",
      signal,
    });
    const { bytes, truncated } = await readBounded(response, MAX_ANSWER_BYTES, signal);
    if (response.status !== 200) throw new Error(`${path} answered HTTP ${response.status}`);
    if (truncated) throw new Error(`${path} answered more than ${MAX_ANSWER_BYTES} bytes`);
    const parsed = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof parsed !== "object" || parsed === null) throw new Error(`${path}: not an object`);
    return parsed as Record<string, unknown>;
  }

  async function fetchRules(): Promise<void> {
    const records: unknown[] = [];
    let token: unknown;
    // Paged: 100 rules a page; a few pages at most in practice, ten at the very most here.
    for (let page = 0; page < 10; page++) {
      const answer = await call("/GetSamplingRules", token ? { NextToken: token } : {});
      if (Array.isArray(answer.SamplingRuleRecords)) records.push(...answer.SamplingRuleRecords);
      token = answer.NextToken;
      if (typeof token !== "string" || token === "") break;
    }
    const previous = new Map(rules.map((r) => [r.name, r]));
    const next: RemoteRule[] = [];
    for (const record of records) {
      const rule = toRule((record as { SamplingRule?: unknown })?.SamplingRule, previous);
      if (rule !== undefined) next.push(rule);
    }
    next.sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : 1));
    if (next.length > MAX_RULES) {
      report("rules", `${next.length} sampling rules; the first ${MAX_RULES} by priority apply`);
    }
    rules = next.slice(0, MAX_RULES);
    rulesFetchedMs = now();
  }

  async function reportTargets(): Promise<void> {
    // A rule is reported as often as its last target asked (every round by default).
    const due = rules.filter((r) => ++r.rounds >= r.reportEvery);
    if (due.length === 0) return;
    const timestamp = Math.floor(now() / 1000);
    const documents = due.map((r) => ({
      RuleName: r.name,
      ClientID: clientId,
      Timestamp: timestamp,
      RequestCount: r.requests,
      SampledCount: r.sampled,
      BorrowCount: r.borrowed,
    }));
    const sent = due.map((r) => [r.name, r.requests, r.sampled, r.borrowed] as const);
    const answer = await call("/SamplingTargets", { SamplingStatisticsDocuments: documents });
    const byName = new Map(rules.map((r) => [r.name, r]));
    // What was reported is taken off (from the rules in force now: a refresh may have replaced
    // the objects); what arrived meanwhile stays for the next report.
    for (const [name, requests, sampled, borrowed] of sent) {
      const r = byName.get(name);
      if (r === undefined) continue;
      r.requests = Math.max(0, r.requests - requests);
      r.sampled = Math.max(0, r.sampled - sampled);
      r.borrowed = Math.max(0, r.borrowed - borrowed);
      r.rounds = 0;
    }
    for (
      const target of Array.isArray(answer.SamplingTargetDocuments)
        ? answer.SamplingTargetDocuments
        : []
    ) {
      const t = target as Record<string, unknown>;
      const rule = typeof t.RuleName === "string" ? byName.get(t.RuleName) : undefined;
      if (rule === undefined) continue;
      if (isRate(t.FixedRate)) rule.fixedRate = t.FixedRate;
      if (isCount(t.Interval) && t.Interval > 0) {
        rule.reportEvery = Math.max(1, Math.round(t.Interval / (TARGETS_INTERVAL_MS / 1000)));
      }
      if (isCount(t.ReservoirQuota)) {
        rule.quota = t.ReservoirQuota;
        rule.quotaUntilMs = typeof t.ReservoirQuotaTTL === "number"
          ? t.ReservoirQuotaTTL * 1000
          : now() + TARGETS_INTERVAL_MS;
      }
    }
    const modified = answer.LastRuleModification;
    if (typeof modified === "number" && modified * 1000 > rulesFetchedMs) await fetchRules();
  }

  function every(intervalMs: number, task: () => Promise<void>): void {
    const id = setTimeout(async () => {
      timers.delete(id);
      if (stopped) return;
      await attempt(task);
      if (!stopped) every(intervalMs, task);
    }, intervalMs);
    Deno.unrefTimer(id);
    timers.add(id);
  }

  async function attempt(task: () => Promise<void>): Promise<void> {
    try {
      await task();
    } catch (error) {
      if (stopped) return;
      report(
        "centralized",
        `centralized sampling unavailable (${errorText(error)}); ${
          rules.length > 0 ? "keeping the last rules" : "the local rule decides"
        }`,
      );
    }
  }

  return {
    sample,
    async start() {
      if (stopped) return;
      await attempt(fetchRules);
      every(options.rulesIntervalMs ?? RULES_INTERVAL_MS, fetchRules);
      every(options.targetsIntervalMs ?? TARGETS_INTERVAL_MS, reportTargets);
    },
    stop() {
      stopped = true;
      for (const id of timers) clearTimeout(id);
      timers.clear();
      abort.abort();
    },
    ruleCount: () => rules.length,
  };
}

/**
 * A rule this sampler can apply: version 1, any resource and service type, no attributes
 * (they match request attributes the SDKs see and this backend does not record). Others are
 * left out, so the next rule by priority (at last the Default) decides for those requests.
 */
function toRule(value: unknown, previous: Map<string, RemoteRule>): RemoteRule | undefined {
  const r = value as Record<string, unknown> | null;
  if (typeof r !== "object" || r === null) return undefined;
  const { RuleName, Priority, FixedRate, ServiceName, Host, HTTPMethod, URLPath } = r;
  if (typeof RuleName !== "string" || !isCount(Priority) || !isRate(FixedRate)) return undefined;
  if (r.Version !== undefined && r.Version !== 1) return undefined;
  if ((r.ResourceARN ?? "*") !== "*" || (r.ServiceType ?? "*") !== "*") return undefined;
  const attributes = r.Attributes;
  if (attributes && typeof attributes === "object" && Object.keys(attributes).length > 0) {
    return undefined;
  }
  const old = previous.get(RuleName);
  return {
    name: RuleName,
    priority: Priority,
    fixedRate: FixedRate,
    canBorrow: isCount(r.ReservoirSize) && r.ReservoirSize > 0,
    matches: ruleMatcher({
      ...(typeof ServiceName === "string" ? { ServiceName } : {}),
      ...(typeof Host === "string" ? { Host } : {}),
      ...(typeof HTTPMethod === "string" ? { HTTPMethod } : {}),
      ...(typeof URLPath === "string" ? { URLPath } : {}),
    }),
    // A rule kept across a refresh keeps its reservoir and its unreported counts.
    quota: old?.quota,
    quotaUntilMs: old?.quotaUntilMs ?? 0,
    second: old?.second ?? -1,
    used: old?.used ?? 0,
    borrowSecond: old?.borrowSecond ?? -1,
    requests: old?.requests ?? 0,
    sampled: old?.sampled ?? 0,
    borrowed: old?.borrowed ?? 0,
    reportEvery: old?.reportEvery ?? 1,
    rounds: old?.rounds ?? 0,
  };
}

function isRate(value: unknown): value is number {
  return typeof value === "number" && value >= 0 && value <= 1;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

function randomClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
