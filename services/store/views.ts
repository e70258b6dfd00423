/** Read-model helpers shared by the stores: display names, times (ISO, a driver's), cursors. */
import { DISPLAY_NAMES } from "../seed.ts";
import type { Cursor, Page, PageRequest } from "./types.ts";

/** The user's display name, or the handle for users the sample data does not know. */
export function displayName(handle: string): string {
  return DISPLAY_NAMES[handle] ?? handle;
}

/** Epoch ms as the API's ISO 8601 time. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Epoch ms from a driver's timestamptz (a Date) or a JSON-rendered one (a string). */
export function ms(value: Date | string): number {
  return value instanceof Date ? value.getTime() : Date.parse(value);
}

/** True when `a` comes before `b` newest first: later creation, then the larger uuid. */
export function newerThan(a: Cursor, b: Cursor): boolean {
  return a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.uuid > b.uuid);
}

/** Cuts `limit + 1` fetched rows to a page, with a cursor when the extra row exists. */
export function toPage<R, T>(
  rows: R[],
  page: PageRequest,
  cursorOf: (row: R) => Cursor,
  view: (row: R) => T,
): Page<T> {
  const more = rows.length > page.limit;
  const kept = more ? rows.slice(0, page.limit) : rows;
  const last = kept[kept.length - 1];
  return {
    items: kept.map(view),
    ...(more && last !== undefined ? { next: cursorOf(last) } : {}),
  };
}
