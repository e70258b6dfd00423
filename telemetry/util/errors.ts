/** Error normalisation shared by the sinks: whatever was thrown, one Error and one text. */

/** `error` as an Error: strings become the message, other values are described. */
export function toError(error: unknown): Error {
  if (error instanceof Error) return error;
  if (typeof error === "string") return new Error(error);
  let text: string;
  try {
    text = JSON.stringify(error) ?? String(error);
  } catch {
    text = String(error);
  }
  return new Error(`Non-error thrown: ${text}`);
}

/** A one-line description: the message (or name), with a `code` when the error has one. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const text = error.message || error.name;
  return code === undefined ? text : `${text} (${String(code)})`;
}

/** The `name` of an error-like value ("Error" when it has none). */
export function errorName(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === "string" ? name : "Error";
}
