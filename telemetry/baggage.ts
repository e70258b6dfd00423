/**
 * The W3C `baggage` header, read and written as `@opentelemetry/core`'s W3CBaggagePropagator
 * does (the same limits: 180 entries, 4096 characters an entry, 8192 in all; the same
 * percent-decoding and metadata), without loading core before the server listens.
 */
import type {
  BaggageEntry,
  Context,
  TextMapGetter,
  TextMapPropagator,
  TextMapSetter,
} from "@opentelemetry/api";
import { baggageEntryMetadataFromString, propagation } from "./otel_api.ts";
import { isTracingSuppressed } from "./tracing.ts";

const HEADER = "baggage";
const MAX_PAIRS = 180;
const MAX_PAIR_LENGTH = 4096;
const MAX_TOTAL_LENGTH = 8192;

/** One `key=value;metadata` entry, or undefined when it is not one. */
function parsePair(entry: string): { key: string; entry: BaggageEntry } | undefined {
  if (!entry) return undefined;
  const metadataAt = entry.indexOf(";");
  const pair = metadataAt === -1 ? entry : entry.substring(0, metadataAt);
  const separator = pair.indexOf("=");
  if (separator <= 0) return undefined;
  const rawKey = pair.substring(0, separator).trim();
  const rawValue = pair.substring(separator + 1).trim();
  if (!rawKey || !rawValue) return undefined;
  let key: string;
  let value: string;
  try {
    key = decodeURIComponent(rawKey);
    value = decodeURIComponent(rawValue);
  } catch {
    return undefined;
  }
  if (metadataAt !== -1 && metadataAt < entry.length - 1) {
    const metadata = baggageEntryMetadataFromString(entry.substring(metadataAt + 1));
    return { key, entry: { value, metadata } };
  }
  return { key, entry: { value } };
}

/** Adds the entries of one header value to `into`; returns the new count and total size. */
function parseHeader(
  value: string,
  into: Record<string, BaggageEntry>,
  count: number,
  totalSize: number,
): [number, number] {
  let start = 0;
  while (start < value.length && count < MAX_PAIRS) {
    const end = value.indexOf(",", start);
    const entryEnd = end === -1 ? value.length : end;
    const entryLength = entryEnd - start;
    if (entryLength <= MAX_PAIR_LENGTH) {
      const pair = parsePair(value.substring(start, entryEnd));
      if (pair) {
        const entrySize = (count === 0 ? 0 : 1) + entryLength;
        if (totalSize + entrySize > MAX_TOTAL_LENGTH) break;
        into[pair.key] = pair.entry;
        count++;
        totalSize += entrySize;
      }
    }
    if (end === -1) break;
    start = end + 1;
  }
  return [count, totalSize];
}

/** The W3C baggage propagator (see the module comment). */
export class W3CBaggagePropagator implements TextMapPropagator {
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const baggage = propagation.getBaggage(context);
    if (!baggage || isTracingSuppressed(context)) return;
    let header = "";
    let kept = 0;
    for (const [key, entry] of baggage.getAllEntries()) {
      let pair = `${encodeURIComponent(key)}=${encodeURIComponent(entry.value)}`;
      if (entry.metadata !== undefined) pair += ";" + entry.metadata.toString();
      if (pair.length > MAX_PAIR_LENGTH) continue;
      if (kept++ >= MAX_PAIRS) break;
      const next = header === "" ? pair : `${header},${pair}`;
      if (next.length <= MAX_TOTAL_LENGTH) header = next;
    }
    if (header.length > 0) setter.set(carrier, HEADER, header);
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const value = getter.get(carrier, HEADER);
    if (!value) return context;
    const entries: Record<string, BaggageEntry> = {};
    let count = 0;
    if (Array.isArray(value)) {
      let totalSize = 0;
      for (const one of value) [count, totalSize] = parseHeader(one, entries, count, totalSize);
    } else {
      [count] = parseHeader(value, entries, count, 0);
    }
    if (count === 0) return context;
    return propagation.setBaggage(context, propagation.createBaggage(entries));
  }

  fields(): string[] {
    return [HEADER];
  }
}
