import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import {
  formatAmznTraceId,
  isPlausibleXRayTime,
  loadSamplingRule,
  otelToXRayTraceId,
  parseAmznTraceId,
  parseDaemonAddress,
  xrayToOtelTraceId,
} from "../../telemetry/xray/mod.ts";
import { createSampler, type SamplingRule } from "../../telemetry/xray/sampling.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";

Deno.test("parseAmznTraceId() reads Root, Parent, Sampled and keeps other pairs", () => {
  const parsed = parseAmznTraceId(`Root=${ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Self=abc`);
  assertEquals(parsed, {
    root: ROOT,
    parent: "53995c3f42cd8ad8",
    sampled: "1",
    extra: [["Self", "abc"]],
  });
});

Deno.test("parseAmznTraceId() drops invalid fields and a parent without a root", () => {
  assertEquals(parseAmznTraceId("Root=1-xyz;Parent=53995c3f42cd8ad8;Sampled=2")?.root, undefined);
  assertEquals(parseAmznTraceId("Root=1-xyz;Parent=53995c3f42cd8ad8")?.parent, undefined);
  assertEquals(parseAmznTraceId(`Root=${ROOT};Parent=0000000000000000`)?.parent, undefined);
  assertEquals(
    parseAmznTraceId("Root=1-00000000-000000000000000000000000;Sampled=?"),
    { root: undefined, parent: undefined, sampled: "?", extra: [] },
  );
  assertEquals(parseAmznTraceId(`Root=${ROOT};Sampled=2`)?.sampled, undefined);
  assertEquals(parseAmznTraceId(`Root=${ROOT}5`)?.root, undefined);
});

Deno.test("parseAmznTraceId() returns undefined for absent, empty, pair-less or oversized input", () => {
  assertEquals(parseAmznTraceId(undefined), undefined);
  assertEquals(parseAmznTraceId(null), undefined);
  assertEquals(parseAmznTraceId(""), undefined);
  assertEquals(parseAmznTraceId(";;;"), undefined);
  assertEquals(parseAmznTraceId(`Root=${ROOT};X=${"a".repeat(2000)}`), undefined);
});

Deno.test("parseAmznTraceId() survives thousands of random strings with a valid result", () => {
  const pieces = [
    "Root=",
    "Parent=",
    "Sampled=",
    ROOT,
    "53995c3f42cd8ad8",
    "1-",
    ";",
    "=",
    "?",
    "1",
    "0",
    " ",
    "__proto__",
    "constructor",
    "\u0000",
    "é",
    "\ud800",
    "-",
    "f",
    "Lineage=a:1",
  ];
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  let parsedCount = 0;
  for (let i = 0; i < 5000; i++) {
    let input = "";
    const n = Math.floor(next() * 12);
    for (let j = 0; j < n; j++) {
      input += next() < 0.8
        ? pieces[Math.floor(next() * pieces.length)]
        : String.fromCharCode(Math.floor(next() * 0x10000));
    }
    if (i % 500 === 0) input = input.repeat(200);
    const parsed = parseAmznTraceId(input);
    if (parsed === undefined) continue;
    parsedCount++;
    if (parsed.root !== undefined) assert(/^1-[0-9a-f]{8}-[0-9a-f]{24}$/.test(parsed.root));
    if (parsed.parent !== undefined) {
      assert(parsed.root !== undefined && /^[0-9a-f]{16}$/.test(parsed.parent));
    }
    assert([undefined, "1", "0", "?"].includes(parsed.sampled));
    assert(parsed.extra.length <= 16);
    assertEquals(Object.getPrototypeOf(parsed), Object.prototype);
  }
  assert(parsedCount > 100, `only ${parsedCount} parsed`);
});

Deno.test("formatAmznTraceId() writes Root, then Parent and Sampled when given", () => {
  assertEquals(formatAmznTraceId({ root: ROOT }), `Root=${ROOT}`);
  assertEquals(
    formatAmznTraceId({ root: ROOT, parent: "53995c3f42cd8ad8", sampled: "0" }),
    `Root=${ROOT};Parent=53995c3f42cd8ad8;Sampled=0`,
  );
});

Deno.test("otelToXRayTraceId() and xrayToOtelTraceId() round-trip and reject bad ids", () => {
  const otel = "5759e988bd862e3fe1be46a994272793";
  assertEquals(otelToXRayTraceId(otel), ROOT);
  assertEquals(xrayToOtelTraceId(ROOT), otel);
  assertEquals(xrayToOtelTraceId("1-5759e988-bd86"), undefined);
  assertEquals(xrayToOtelTraceId("1-00000000-000000000000000000000000"), undefined);
});

Deno.test("isPlausibleXRayTime() accepts the last 30 days up to 5 minutes ahead", () => {
  const now = 1_760_000_000_000;
  const id = (seconds: number) => seconds.toString(16).padStart(8, "0") + "a".repeat(24);
  const s = now / 1000;
  assert(isPlausibleXRayTime(id(s), now));
  assert(isPlausibleXRayTime(id(s - 29 * 86400), now));
  assert(!isPlausibleXRayTime(id(s - 31 * 86400), now));
  assert(isPlausibleXRayTime(id(s + 299), now));
  assert(!isPlausibleXRayTime(id(s + 301), now));
  assert(!isPlausibleXRayTime("4bf92f3577b34da6a3ce929d0e0e4736", now));
  assert(!isPlausibleXRayTime("not-hex", now));
});

Deno.test("parseDaemonAddress() reads host:port and the udp/tcp pair, defaulting to 2000", () => {
  assertEquals(parseDaemonAddress(undefined), { host: "127.0.0.1", port: 2000 });
  assertEquals(parseDaemonAddress(""), { host: "127.0.0.1", port: 2000 });
  assertEquals(parseDaemonAddress("xray-daemon:2000"), { host: "xray-daemon", port: 2000 });
  assertEquals(parseDaemonAddress("tcp:10.0.0.1:2001 udp:10.0.0.2:2002"), {
    host: "10.0.0.2",
    port: 2002,
  });
  assertEquals(parseDaemonAddress("[::1]:2000"), { host: "::1", port: 2000 });
  assertThrows(() => parseDaemonAddress("xray-daemon"), TypeError);
  assertThrows(() => parseDaemonAddress("host:99999"), TypeError);
  assertThrows(() => parseDaemonAddress("udp:a:1 udp:b:2"), TypeError);
});

Deno.test("loadSamplingRule() reads the shipped aws/json/xray.json unchanged", async () => {
  const doc = await loadSamplingRule(new URL("../../aws/json/xray.json", import.meta.url));
  assertEquals(doc, {
    SamplingRule: {
      RuleName: "Cruddur",
      ResourceARN: "*",
      Priority: 9000,
      FixedRate: 0.1,
      ReservoirSize: 5,
      ServiceName: "backend-deno",
      ServiceType: "*",
      Host: "*",
      HTTPMethod: "*",
      URLPath: "*",
      Version: 1,
    },
  });
});

Deno.test("createSampler() matches wildcards and falls back to 1/s then 5%", () => {
  let now = 1_000_000;
  let random = 0.5;
  const rule: SamplingRule = {
    RuleName: "r",
    ResourceARN: "*",
    Priority: 1,
    FixedRate: 0,
    ReservoirSize: 2,
    ServiceName: "backend-*",
    ServiceType: "*",
    Host: "*.example.com",
    HTTPMethod: "GET",
    URLPath: "/api/activities/*",
    Version: 1,
  };
  const sample = createSampler({ rule, now: () => now, random: () => random });
  const matching = {
    serviceName: "backend-deno",
    host: "api.example.com",
    method: "GET",
    path: "/api/activities/home",
  };
  assertEquals([sample(matching), sample(matching), sample(matching)], [true, true, false]);
  now += 1000;
  assertEquals(sample(matching), true);
  // Unmatched (POST): the default reservoir of 1, then 5%.
  const other = { ...matching, method: "POST" };
  assertEquals([sample(other), sample(other)], [true, false]);
  random = 0.01;
  assertEquals(sample(other), true);
});
