/**
 * The bench's loopback stand-ins in a process of their own, for bench/inprocess.ts: there the
 * app runs in the measuring process, and stand-ins beside it would count their own work (the
 * UDP receive of every X-Ray datagram, the HTTP answers) as the app's. Prints the sinks'
 * addresses as one JSON line, then serves until its stdin closes.
 *
 *   deno run --allow-net bench/sinks_process.ts healthy|blackhole
 */
import { type SinkAddresses, startBlackholeSinks, startHealthySinks } from "./sinks.ts";

const kind = Deno.args[0];
if (kind !== "healthy" && kind !== "blackhole") throw new Error("usage: healthy|blackhole");
const sinks = kind === "healthy" ? await startHealthySinks() : await startBlackholeSinks();
const { otlpUrl, cloudwatchUrl, rollbarUrl, xrayAddress } = sinks;
const addresses: SinkAddresses = { otlpUrl, cloudwatchUrl, rollbarUrl, xrayAddress };
await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(addresses) + "\n"));
// The parent closes our stdin when it is done (or dies): then we go too.
for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
await sinks.close();
Deno.exit(0);
