/**
 * Local X-Ray sampling: the shipped rule (aws/json/xray.json) applied in process the way the
 * SDK's local sampler does: a reservoir per clock second, then a fixed rate.
 */

/** The `SamplingRule` object of `aws xray create-sampling-rule --cli-input-json`. */
export interface SamplingRule {
  RuleName: string;
  ResourceARN: string;
  Priority: number;
  FixedRate: number;
  ReservoirSize: number;
  ServiceName: string;
  ServiceType: string;
  Host: string;
  HTTPMethod: string;
  URLPath: string;
  Version: number;
}

/** The whole file: `{ "SamplingRule": {...} }`. */
export interface SamplingRuleDocument {
  SamplingRule: SamplingRule;
}

/** What the rule is matched against. */
export interface SamplingRequest {
  /** The segment name. */
  serviceName: string;
  host: string | undefined;
  method: string;
  path: string;
}

/** Decides whether a request is sampled. */
export type SampleDecider = (request: SamplingRequest) => boolean;

/** The SDK's default when no rule matches: 1 request a second, then 5%. */
const DEFAULT_RESERVOIR = 1;
const DEFAULT_RATE = 0.05;

/** Options for {@link createSampler}. */
export interface SamplerOptions {
  rule: SamplingRule;
  now: () => number;
  random: () => number;
}

/** Builds the local sampler for one rule plus the SDK default. */
export function createSampler(options: SamplerOptions): SampleDecider {
  const { rule, now, random } = options;
  const matches = ruleMatcher(rule);
  const ruleReservoir = createReservoir(rule.ReservoirSize, now);
  const defaultReservoir = createReservoir(DEFAULT_RESERVOIR, now);
  return function sample(request: SamplingRequest): boolean {
    if (matches(request)) return ruleReservoir() || random() < rule.FixedRate;
    return defaultReservoir() || random() < DEFAULT_RATE;
  };
}

/** The fields a rule matches a request by; an absent one matches anything. */
export type RuleFields = Partial<
  Pick<SamplingRule, "ServiceName" | "Host" | "HTTPMethod" | "URLPath">
>;

/** Whether a request falls under a rule (local or from X-Ray): its four wildcards. */
export function ruleMatcher(rule: RuleFields): (request: SamplingRequest) => boolean {
  // The segment name and host repeat request after request: their answers are remembered.
  const service = lastAnswer(compileWildcard(rule.ServiceName ?? "*"));
  const host = lastAnswer(compileWildcard(rule.Host ?? "*"));
  const method = compileWildcard(rule.HTTPMethod ?? "*");
  const path = compileWildcard(rule.URLPath ?? "*");
  return (request) =>
    service(request.serviceName) && host(request.host ?? "") && method(request.method) &&
    path(request.path);
}

/** `match` with its last answer kept, for values that rarely change between calls. */
function lastAnswer(match: (value: string) => boolean): (value: string) => boolean {
  let lastValue: string | undefined;
  let lastResult = false;
  return (value) => {
    if (value !== lastValue) {
      lastResult = match(value);
      lastValue = value;
    }
    return lastResult;
  };
}

/** A reservoir that lets `size` requests through per clock second. */
function createReservoir(size: number, now: () => number): () => boolean {
  let second = -1;
  let used = 0;
  return function take(): boolean {
    const current = Math.floor(now() / 1000);
    if (current !== second) {
      second = current;
      used = 0;
    }
    if (used >= size) return false;
    used++;
    return true;
  };
}

/** Compiles an X-Ray wildcard (`*` any run, `?` one character), case-insensitive. */
export function compileWildcard(pattern: string): (value: string) => boolean {
  if (pattern === "*") return () => true;
  let source = "^";
  for (const ch of pattern) {
    if (ch === "*") source += ".*";
    else if (ch === "?") source += ".";
    else source += ch.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  }
  const re = new RegExp(source + "$", "is");
  return (value) => re.test(value);
}

/** Checks that parsed JSON has the rule shape; throws with the first bad field named. */
export function validateSamplingRule(value: unknown): SamplingRuleDocument {
  const rule = (value as { SamplingRule?: unknown } | null)?.SamplingRule;
  if (typeof rule !== "object" || rule === null) {
    throw new TypeError("Sampling rule file has no SamplingRule object");
  }
  const record = rule as Record<string, unknown>;
  const strings = [
    "RuleName",
    "ResourceARN",
    "ServiceName",
    "ServiceType",
    "Host",
    "HTTPMethod",
    "URLPath",
  ];
  for (const key of strings) {
    if (typeof record[key] !== "string") {
      throw new TypeError(`Sampling rule field ${key} must be a string`);
    }
  }
  for (const key of ["Priority", "ReservoirSize", "Version"]) {
    const n = record[key];
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
      throw new TypeError(`Sampling rule field ${key} must be a non-negative integer`);
    }
  }
  const rate = record.FixedRate;
  if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) {
    throw new TypeError("Sampling rule field FixedRate must be between 0 and 1");
  }
  return { SamplingRule: rule as SamplingRule };
}
