/**
 * DATABASE_URL without its secrets, for messages: its own module so config.ts can use it
 * without loading the store (its migrations and drivers' seams).
 */

/** `postgres://user:secret@host/db` → `postgres://user@host/db`; unparseable → a placeholder. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|key|token/i.test(key)) parsed.searchParams.set(key, "REDACTED");
    }
    return parsed.href;
  } catch {
    return "(unparseable URL)";
  }
}
