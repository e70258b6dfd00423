/**
 * Feed paging over HTTP: `?limit=` (1..MAX_PAGE_SIZE, default DEFAULT_PAGE_SIZE) and
 * `?cursor=` from the previous answer. The body stays the array the frontend reads; the next
 * page is announced in a `Link: <…>; rel="next"` header (CORS exposes it).
 */
import type { Context } from "hono";
import {
  decodeCursor,
  DEFAULT_PAGE_SIZE,
  encodeCursor,
  MAX_PAGE_SIZE,
} from "../services/pagination.ts";
import type { PageRequest } from "../services/store/types.ts";
import type { ServiceResult } from "../services/types.ts";
import { HttpError } from "./errors.ts";
import { addResponseHeader } from "./response.ts";

/** Reads `limit` and `cursor`; 400 `invalid_limit` / `invalid_cursor` when unusable. */
export function readPage(c: Context): PageRequest {
  const rawLimit = c.req.query("limit");
  const rawCursor = c.req.query("cursor");
  let limit = DEFAULT_PAGE_SIZE;
  if (rawLimit !== undefined) {
    limit = /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(limit >= 1 && limit <= MAX_PAGE_SIZE)) throw new HttpError(400, ["invalid_limit"]);
  }
  if (rawCursor === undefined) return { limit };
  const after = decodeCursor(rawCursor);
  if (after === undefined) throw new HttpError(400, ["invalid_cursor"]);
  return { limit, after };
}

/** Sets the `Link` header to the next page when the result says there is one. */
export function linkNextPage<T>(c: Context, result: ServiceResult<T>, page: PageRequest): void {
  if (!result.ok || result.next === undefined) return;
  const url = new URL(c.req.url);
  url.searchParams.set("limit", String(page.limit));
  url.searchParams.set("cursor", encodeCursor(result.next));
  addResponseHeader(c, "Link", `<${url.pathname}${url.search}>; rel="next"`);
}
