/**
 * The protobuf wire format, as much of it as OTLP/HTTP protobuf bodies need, written straight
 * into one growing byte buffer that its owner keeps and reuses: varints (minimal, as every
 * encoder writes them), fixed32/fixed64/double little-endian, strings as UTF-8 (ASCII byte by
 * byte, the rest through `encodeInto`), ids from hex, times as fixed64 split into two 32-bit
 * halves (no BigInt), and nested messages whose length is written once their end is known
 * (a reserved varint, the content shifted only when its length needs another size).
 * Also the one answer a collector gives: the partial-success count of an Export*ServiceResponse.
 */

import { truncateText } from "../util/text.ts";

const utf8 = new TextEncoder();

/** Wire types. */
export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

/** A field's tag, for fields below 16 one byte. */
export function tag(field: number, wire: number): number {
  return (field << 3) | wire;
}

/** Bytes of `value` as a minimal varint (0 ≤ value < 2^53). */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let size = 5;
  for (let v = Math.floor(value / 0x800000000); v > 0; v = Math.floor(v / 0x80)) size++;
  return size;
}

/** Hex digit values; 255 for what is not one. */
const HEX_VALUE = new Uint8Array(128).fill(255);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[97 + i] = HEX_VALUE[65 + i] = 10 + i;

/** Scratch for doubles. */
const FLOAT = new Float64Array(1);
const FLOAT_BYTES = new Uint8Array(FLOAT.buffer);

/** Largest buffer kept between batches (one grown by an unusual batch is let go). */
export const KEPT_WRITER_BYTES = 4 * 1024 * 1024;

/** Bytes written in place; `bytes` may be replaced by a larger copy as it grows. */
export class ProtoWriter {
  bytes: Uint8Array;
  pos = 0;

  constructor(size = 16 * 1024) {
    this.bytes = new Uint8Array(size);
  }

  /** Room for `more` bytes past `pos`. */
  ensure(more: number): void {
    const needed = this.pos + more;
    if (needed <= this.bytes.length) return;
    let size = Math.max(this.bytes.length * 2, 1024);
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
  }

  /** One byte (a tag below field 16, a small varint). */
  byte(value: number): void {
    if (this.pos === this.bytes.length) this.ensure(1);
    this.bytes[this.pos++] = value;
  }

  /** A tag, one or two bytes (fields up to 2047). */
  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  /** A non-negative integer below 2^53 as a varint. */
  varint(value: number): void {
    this.ensure(10);
    const bytes = this.bytes;
    let pos = this.pos;
    if (value < 0x80) {
      bytes[pos++] = value;
    } else if (value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 0x7f) {
        bytes[pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      bytes[pos++] = v;
    } else {
      this.pos = pos;
      return this.#varint64(value >>> 0, Math.floor(value / 0x100000000) >>> 0);
    }
    this.pos = pos;
  }

  /** An int64 (any integer in its range; a negative one is ten bytes, two's complement). */
  int64(value: number): void {
    if (value >= 0) return this.varint(value);
    const abs = -value;
    let low = ~(abs >>> 0) >>> 0;
    let high = ~(Math.floor(abs / 0x100000000) >>> 0) >>> 0;
    low = (low + 1) >>> 0;
    if (low === 0) high = (high + 1) >>> 0;
    this.ensure(10);
    this.#varint64(low, high);
  }

  /** A varint from its two 32-bit halves (room for ten bytes already ensured). */
  #varint64(low: number, high: number): void {
    const bytes = this.bytes;
    let pos = this.pos;
    while (high > 0 || low > 0x7f) {
      bytes[pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    bytes[pos++] = low;
    this.pos = pos;
  }

  fixed32(value: number): void {
    this.ensure(4);
    const bytes = this.bytes;
    const pos = this.pos;
    bytes[pos] = value & 0xff;
    bytes[pos + 1] = (value >>> 8) & 0xff;
    bytes[pos + 2] = (value >>> 16) & 0xff;
    bytes[pos + 3] = (value >>> 24) & 0xff;
    this.pos = pos + 4;
  }

  /** A fixed64 from its two 32-bit halves. */
  fixed64(low: number, high: number): void {
    this.fixed32(low >>> 0);
    this.fixed32(high >>> 0);
  }

  /**
   * `[seconds, nanos]` as fixed64 nanoseconds since the epoch, exactly, without BigInt (the
   * product is split so every step stays below 2^53). A negative or unreadable time is 0.
   * Throws for a time that is not a number (the caller leaves the item out).
   */
  hrTime(seconds: number, nanos: number): void {
    if (typeof seconds !== "number" || typeof nanos !== "number") {
      throw new TypeError("time is not a number");
    }
    const s = Math.trunc(seconds);
    const n = Math.trunc(nanos);
    if (!(s * 1e9 + n > 0) || !Number.isFinite(s)) return this.fixed64(0, 0);
    // seconds = upper * 2^16 + lower; each part times 1e9 is below 2^53.
    const lower = s % 0x10000;
    const upper = Math.floor(s / 0x10000);
    const fromLower = lower * 1e9;
    const fromUpper = upper * 1e9; // shifted left 16 bits below
    const sumLow = (fromLower >>> 0) + (((fromUpper % 0x10000) * 0x10000) >>> 0) + n;
    const carry = Math.floor(sumLow / 0x100000000);
    const high = Math.floor(fromLower / 0x100000000) + Math.floor(fromUpper / 0x10000) + carry;
    this.fixed64(sumLow >>> 0, high >>> 0);
  }

  double(value: number): void {
    this.ensure(8);
    FLOAT[0] = value;
    this.bytes.set(FLOAT_BYTES, this.pos);
    this.pos += 8;
  }

  /** Length-prefixed raw bytes. */
  bytesField(value: Uint8Array): void {
    this.varint(value.length);
    this.raw(value);
  }

  /** Bytes as they are (a cached encoding). */
  raw(value: Uint8Array): void {
    this.ensure(value.length);
    const length = value.length;
    if (length < 32) {
      const bytes = this.bytes;
      let pos = this.pos;
      for (let i = 0; i < length; i++) bytes[pos++] = value[i]!;
      this.pos = pos;
      return;
    }
    this.bytes.set(value, this.pos);
    this.pos += length;
  }

  /**
   * A hex id as length-prefixed bytes; false (nothing written) unless it is `length` bytes of
   * hex, upper or lower case.
   */
  hexId(hex: string, length: number): boolean {
    if (typeof hex !== "string" || hex.length !== length * 2) return false;
    this.ensure(length + 1);
    const bytes = this.bytes;
    const start = this.pos;
    bytes[start] = length;
    for (let i = 0; i < length; i++) {
      const hi = hex.charCodeAt(2 * i);
      const lo = hex.charCodeAt(2 * i + 1);
      const value = ((HEX_VALUE[hi] ?? 255) << 4) | (HEX_VALUE[lo] ?? 255);
      if (value > 255) return false;
      bytes[start + 1 + i] = value;
    }
    this.pos = start + 1 + length;
    return true;
  }

  /** A length-prefixed UTF-8 string (lone surrogates become U+FFFD, as TextEncoder makes them). */
  string(value: string): void {
    const length = value.length;
    if (length < 0x80) {
      // The length fits one byte if the string is ASCII: the common case, byte by byte.
      this.ensure(length * 3 + 2);
      const bytes = this.bytes;
      const start = this.pos;
      let pos = start + 1;
      for (let i = 0; i < length; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) return this.#encoded(value, start);
        bytes[pos++] = c;
      }
      bytes[start] = length;
      this.pos = pos;
      return;
    }
    this.#encoded(value, this.pos);
  }

  /** `value` through encodeInto, its length before it, from `start`. */
  #encoded(value: string, start: number): void {
    this.pos = start;
    const most = value.length * 3;
    const reserved = varintSize(most);
    this.ensure(reserved + most);
    const written = utf8.encodeInto(value, this.bytes.subarray(start + reserved)).written;
    this.#placeLength(start, reserved, written);
  }

  /**
   * Starts a nested message: reserves `reserved` bytes for its length; returns where it
   * starts, for {@linkcode end}.
   */
  begin(reserved = 1): number {
    this.ensure(reserved);
    const start = this.pos;
    this.pos += reserved;
    return start;
  }

  /** Ends the message {@linkcode begin} started at `start`: its length goes before it. */
  end(start: number, reserved = 1): void {
    this.#placeLength(start, reserved, this.pos - start - reserved);
  }

  /** Writes `length` at `start` as a minimal varint, moving the `length` bytes after it. */
  #placeLength(start: number, reserved: number, length: number): void {
    const size = varintSize(length);
    if (size !== reserved) {
      this.ensure(size - reserved + length - (this.pos - start - reserved));
      this.bytes.copyWithin(start + size, start + reserved, start + reserved + length);
    }
    this.pos = start;
    this.varint(length);
    this.pos = start + size + length;
  }

  /** The bytes from `start` to the end, as a copy (a cached encoding). */
  copy(start: number): Uint8Array {
    return this.bytes.slice(start, this.pos);
  }
}

/**
 * The last id written and its bytes, so an id that repeats (a request's spans and records
 * share the trace id) is copied instead of decoded from hex again. Nothing is allocated.
 */
export class LastId {
  #hex = "";
  readonly #bytes: Uint8Array;
  constructor(readonly length: number) {
    this.#bytes = new Uint8Array(length + 1);
  }

  /** {@linkcode ProtoWriter.hexId} for this id's length, remembered. */
  write(w: ProtoWriter, hex: string): boolean {
    const length = this.length;
    if (hex === this.#hex) {
      w.ensure(length + 1);
      const out = w.bytes;
      const bytes = this.#bytes;
      let pos = w.pos;
      for (let i = 0; i <= length; i++) out[pos++] = bytes[i]!;
      w.pos = pos;
      return true;
    }
    const start = w.pos;
    if (!w.hexId(hex, length)) return false;
    const out = w.bytes;
    for (let i = 0; i <= length; i++) this.#bytes[i] = out[start + i]!;
    this.#hex = hex;
    return true;
  }
}

/** `[field tag][varint length][bytes]` of a message already encoded: a cached frame. */
export function embedded(field: number, message: Uint8Array): Uint8Array {
  const writer = new ProtoWriter(message.length + 8);
  writer.tag(field, LEN);
  writer.bytesField(message);
  return writer.copy(0);
}

/** A string field `[tag][length][UTF-8]` as bytes, for caching. */
export function stringField(field: number, value: string): Uint8Array {
  const writer = new ProtoWriter(value.length * 3 + 8);
  writer.tag(field, LEN);
  writer.string(value);
  return writer.copy(0);
}

/** KeyValue.key with its tag and length, then KeyValue.value's tag: a key's fixed bytes. */
export function keyBytes(key: string): Uint8Array {
  const writer = new ProtoWriter(key.length * 3 + 8);
  writer.byte(tag(1, LEN));
  writer.string(key);
  writer.byte(tag(2, LEN));
  return writer.copy(0);
}

/**
 * A KeyValue as the field tagged `fieldTag` (one byte: a field below 16); `key` from
 * {@linkcode keyBytes}, the value under {@linkcode anyValue}'s caps.
 */
export function keyValue(
  w: ProtoWriter,
  fieldTag: number,
  key: Uint8Array,
  value: unknown,
  maxChars = Infinity,
  maxDepth = Infinity,
): void {
  w.byte(fieldTag);
  const start = w.begin();
  w.raw(key);
  const valueStart = w.begin();
  anyValue(w, value, maxChars, maxDepth);
  w.end(valueStart);
  w.end(start);
}

/** A string value longer than this is never kept as a field's bytes. */
export const MAX_REMEMBERED_CHARS = 256;

/**
 * One attribute key of an encoder's cache: its bytes, and the whole field of the value it had
 * three times in a row. The method, the route and the status code repeat from span to span and
 * from record to record, and one copy of kept bytes costs a fraction of encoding them again; a
 * value that two neighbours share only (a request's id) is never kept.
 */
export class RepeatingKeyValue {
  readonly key: Uint8Array;
  #value: unknown = undefined;
  /** Fields in a row that had `#value` (after the first). */
  #repeats = 0;
  #field: Uint8Array | undefined;

  constructor(key: string) {
    this.key = keyBytes(key);
  }

  /** Writes the field; under a cap (`maxChars` finite) the kept bytes are neither used nor made. */
  write(
    w: ProtoWriter,
    fieldTag: number,
    value: unknown,
    maxChars = Infinity,
    maxDepth = Infinity,
  ): void {
    if (maxChars !== Infinity) return keyValue(w, fieldTag, this.key, value, maxChars, maxDepth);
    if (value === this.#value && rememberable(value)) {
      if (this.#field !== undefined) return w.raw(this.#field);
      const at = w.pos;
      keyValue(w, fieldTag, this.key, value, maxChars, maxDepth);
      if (++this.#repeats >= 2) this.#field = w.copy(at);
      return;
    }
    this.#value = value;
    this.#repeats = 0;
    this.#field = undefined;
    keyValue(w, fieldTag, this.key, value, maxChars, maxDepth);
  }
}

function rememberable(value: unknown): boolean {
  return typeof value === "number" || typeof value === "boolean" ||
    (typeof value === "string" && value.length <= MAX_REMEMBERED_CHARS);
}

/** Reads an unsigned varint at `at`; [value, next position]. Throws past the end. */
export function readVarint(data: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const b = data[at++];
    if (b === undefined) throw new RangeError("truncated varint");
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, at];
    scale *= 0x80;
  }
  throw new RangeError("varint too long");
}

/** Skips a field of wire type `wire` at `at`; the next position. */
export function skipField(data: Uint8Array, at: number, wire: number): number {
  switch (wire) {
    case VARINT:
      return readVarint(data, at)[1];
    case I64:
      return at + 8;
    case LEN: {
      const [length, next] = readVarint(data, at);
      return next + length;
    }
    case I32:
      return at + 4;
    default:
      throw new RangeError(`wire type ${wire}`);
  }
}

/**
 * The rejected count of a protobuf Export{Trace,Logs,Metrics}ServiceResponse: field 1
 * (partial_success), whose field 1 is rejected_spans / rejected_log_records /
 * rejected_data_points (int64). 0 for an empty or unreadable answer.
 */
export function protobufRejected(data: Uint8Array | undefined): number {
  if (!data || data.byteLength === 0) return 0;
  try {
    let at = 0;
    let rejected = 0;
    while (at < data.length) {
      const [key, next] = readVarint(data, at);
      at = next;
      if (key === tag(1, LEN)) {
        const [length, start] = readVarint(data, at);
        const end = start + length;
        if (end > data.length) return 0;
        let inner = start;
        while (inner < end) {
          const [innerKey, after] = readVarint(data, inner);
          if (innerKey === tag(1, VARINT)) {
            const [value, rest] = readVarint(data, after);
            rejected = value;
            inner = rest;
          } else {
            inner = skipField(data, after, innerKey & 7);
          }
        }
        at = end;
      } else {
        at = skipField(data, at, key & 7);
      }
    }
    return Number.isFinite(rejected) && rejected > 0 && rejected <= Number.MAX_SAFE_INTEGER
      ? rejected
      : 0;
  } catch {
    return 0;
  }
}

/** An integer at or past this magnitude is not an int64: it goes as a double. */
const INT64_LIMIT = 2 ** 63;

/**
 * One AnyValue's content, the stock serializers' rules; nothing (the empty value) for null and
 * what has no OTLP form. Log records pass their caps: a string longer than `maxChars` UTF-16
 * units is cut with the truncation marker, nesting at `maxDepth` is left empty. A bigint (only a
 * log field can hold one) goes as its decimal text; an empty key in a map is left out.
 */
export function anyValue(
  w: ProtoWriter,
  value: unknown,
  maxChars = Infinity,
  maxDepth = Infinity,
  depth = 0,
): void {
  switch (typeof value) {
    case "string":
      w.byte(tag(1, LEN));
      w.string(value.length > maxChars ? truncateText(value, maxChars) : value);
      return;
    case "boolean":
      w.byte(tag(2, VARINT));
      w.byte(value ? 1 : 0);
      return;
    case "number":
      if (Number.isInteger(value) && value < INT64_LIMIT && value >= -INT64_LIMIT) {
        w.byte(tag(3, VARINT));
        w.int64(value);
      } else {
        w.byte(tag(4, I64));
        w.double(value);
      }
      return;
    case "bigint":
      w.byte(tag(1, LEN));
      w.string(`${value}`);
      return;
    case "object": {
      if (value === null || depth >= maxDepth) return;
      if (value instanceof Uint8Array) {
        w.byte(tag(7, LEN));
        w.bytesField(value);
        return;
      }
      if (Array.isArray(value)) {
        w.byte(tag(5, LEN));
        const start = w.begin();
        for (let i = 0; i < value.length; i++) {
          w.byte(tag(1, LEN));
          const item = w.begin();
          anyValue(w, value[i], maxChars, maxDepth, depth + 1);
          w.end(item);
        }
        w.end(start);
        return;
      }
      w.byte(tag(6, LEN));
      const start = w.begin();
      const record = value as Record<string, unknown>;
      for (const key in record) {
        if (key === "" || !Object.hasOwn(record, key)) continue;
        w.byte(tag(1, LEN));
        const kv = w.begin();
        w.byte(tag(1, LEN));
        w.string(key);
        w.byte(tag(2, LEN));
        const inner = w.begin();
        anyValue(w, record[key], maxChars, maxDepth, depth + 1);
        w.end(inner);
        w.end(kv);
      }
      w.end(start);
      return;
    }
    default:
      return;
  }
}
