/** Input checks shared by the services, returning the original backend's error codes. */

/** Length in user-perceived characters (code points), as the original's Python `len`. */
export function charLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** True for missing, non-string or whitespace-only values. */
export function isBlank(value: unknown): boolean {
  return typeof value !== "string" || value.trim() === "";
}

/**
 * False for text PostgreSQL cannot store as sent: a NUL character (text cannot hold one) or
 * a lone UTF-16 surrogate (it would become U+FFFD on the way, so not stored verbatim).
 */
export function isStorable(text: string): boolean {
  return !text.includes("\u0000") && text.isWellFormed();
}

/**
 * `message_blank`, `message_exceed_max_chars` or `message_invalid_characters`, or nothing
 * when the message is fine.
 */
export function messageErrors(message: unknown, maxChars: number): string[] {
  if (isBlank(message)) return ["message_blank"];
  if (charLength(message as string) > maxChars) return ["message_exceed_max_chars"];
  if (!isStorable(message as string)) return ["message_invalid_characters"];
  return [];
}
