/**
 * Feed pages: newest first, `DEFAULT_PAGE_SIZE` items unless the client asks for up to
 * `MAX_PAGE_SIZE`, and an opaque cursor for the next page. The Cruddur frontend reads the
 * first page only, so the default is a full screen of posts.
 */
import type { Cursor, PageRequest } from "./store/types.ts";

/** Items in a page when the client does not say (`?limit=`). */
export const DEFAULT_PAGE_SIZE = 20;
/** The most items a client may ask for in one page. */
export const MAX_PAGE_SIZE = 100;

/** The first page at the default size. */
export const FIRST_PAGE: PageRequest = Object.freeze({ limit: DEFAULT_PAGE_SIZE });

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Encodes a cursor as URL-safe text (`<epoch ms>_<uuid>` in base64url). */
export function encodeCursor(cursor: Cursor): string {
  return btoa(`${cursor.createdAt}_${cursor.uuid}`).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Decodes a cursor from `encodeCursor`; undefined when it is not one. */
export function decodeCursor(text: string): Cursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(text)) return undefined;
  let plain: string;
  try {
    plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return undefined;
  }
  const match = /^(\d{1,15})_(.+)$/.exec(plain);
  if (match === null || !UUID_RE.test(match[2]!)) return undefined;
  return { createdAt: Number(match[1]), uuid: match[2]! };
}
