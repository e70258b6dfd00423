/** The store now lives in services/store/; this path is kept for existing importers. */
export * from "./store/mod.ts";
