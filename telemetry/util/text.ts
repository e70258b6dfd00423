/**
 * Text limits shared by every sink: UTF-8 length without encoding, and truncation that cuts
 * between code points and appends one marker, so a reader knows the value is incomplete.
 */

/** Appended to every value that had to be shortened. */
export const TRUNCATION_MARKER = "…[truncated]";

/** Counts the UTF-8 bytes of a string without allocating an encoded copy. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (isHighSurrogate(code) && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3; // lone surrogates are encoded as U+FFFD, also 3 bytes
  }
  return bytes;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Result of {@linkcode truncateUtf8}: the text to send and its UTF-8 length. */
export interface Truncated {
  message: string;
  bytes: number;
  truncated: boolean;
}

/**
 * Shortens `text` to at most `maxBytes` UTF-8 bytes including the marker, cutting between
 * code points so no surrogate pair or multi-byte sequence is split.
 */
export function truncateUtf8(
  text: string,
  maxBytes: number,
  marker: string = TRUNCATION_MARKER,
): Truncated {
  // Every UTF-16 unit is at most 3 bytes: a short string needs no count at all.
  if (text.length * 3 <= maxBytes) {
    return { message: text, bytes: utf8Length(text), truncated: false };
  }
  const total = utf8Length(text);
  if (total <= maxBytes) return { message: text, bytes: total, truncated: false };
  const budget = Math.max(0, maxBytes - utf8Length(marker));
  let bytes = 0;
  let end = 0;
  while (end < text.length) {
    const code = text.charCodeAt(end);
    let width = 3;
    let units = 1;
    if (code < 0x80) width = 1;
    else if (code < 0x800) width = 2;
    else if (isHighSurrogate(code) && isLowSurrogate(text.charCodeAt(end + 1))) {
      width = 4;
      units = 2;
    }
    if (bytes + width > budget) break;
    bytes += width;
    end += units;
  }
  const message = text.slice(0, end) + marker;
  return { message, bytes: bytes + utf8Length(marker), truncated: true };
}

/**
 * Shortens `text` to at most `maxChars` UTF-16 units plus the marker, never splitting a
 * surrogate pair. The cap for attribute values, X-Ray strings and log fields.
 */
export function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let end = Math.max(0, maxChars);
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return text.slice(0, end) + TRUNCATION_MARKER;
}

const detachEncoder = new TextEncoder();
const detachDecoder = new TextDecoder();

/**
 * A copy of `text` that owns its characters. V8 keeps a sliced (or concatenated) string's
 * parent alive, so a capped value queued in a sink would hold the whole input it was cut from
 * (a 60 KB path per record behind a slow exporter). Only for values that were cut: it costs a
 * UTF-8 round trip.
 */
export function detached(text: string): string {
  return detachDecoder.decode(detachEncoder.encode(text));
}
