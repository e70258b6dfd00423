/**
 * A prebuilt, initdb'd PGlite data directory, so a new DATA_DIR starts without initdb: PGlite's
 * own first start runs initdb in WASM (about 6 s of CPU), dumps it to a tar and writes that back
 * through Emscripten's file system (2.5 s more); copying a finished cluster natively takes well
 * under a second. The template is made by `deno task pglite-template` (never committed: it is
 * 39 MB of one PGlite version's catalogs) under `.cache/` next to the app, named after the
 * PGlite version; without it a new DATA_DIR is initdb'd as before.
 *
 *   deno task pglite-template      (= deno run … services/store/pglite_template.ts [DIR])
 */
import { PGlite } from "@electric-sql/pglite";
import { join } from "node:path";

/** The pinned PGlite (deno.json's import map; a test keeps the two equal). */
export const PGLITE_VERSION = "0.5.17";

/** Where `deno task pglite-template` puts the template and a new DATA_DIR takes it from. */
export const DEFAULT_TEMPLATE = new URL(
  `../../.cache/pglite-${PGLITE_VERSION}-template`,
  import.meta.url,
).pathname;

/** PostgreSQL's "this directory is a cluster" file, which PGlite checks too: copied last. */
const MARKER = "PG_VERSION";

async function isEmpty(dir: string): Promise<boolean> {
  for await (const _ of Deno.readDir(dir)) return false;
  return true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function copyTree(from: string, to: string, skip?: string): Promise<void> {
  for await (const entry of Deno.readDir(from)) {
    if (entry.name === skip) continue;
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory) {
      await Deno.mkdir(target);
      await copyTree(source, target);
    } else if (entry.isFile) {
      await Deno.copyFile(source, target);
    }
  }
}

/**
 * Fills an empty `dataDir` from `template` (a cleanly shut down cluster) and returns true; does
 * nothing and returns false when the directory holds anything or there is no template. The
 * marker goes last, so a copy cut short leaves a directory PGlite does not take for a cluster
 * (it initdb's over it, as for any non-empty directory without one).
 */
export async function fillFromTemplate(dataDir: string, template: string): Promise<boolean> {
  if (!await exists(join(template, MARKER)) || !await isEmpty(dataDir)) return false;
  await copyTree(template, dataDir, MARKER);
  await Deno.copyFile(join(template, MARKER), join(dataDir, MARKER));
  return true;
}

/**
 * Makes the template at `dir`: PGlite's initdb in a sibling temporary directory, shut down
 * cleanly (a checkpoint, so a copy starts without recovery), then renamed into place, so a
 * start never copies a half-made template. An existing template is left alone.
 */
export async function makeTemplate(dir: string = DEFAULT_TEMPLATE): Promise<boolean> {
  if (await exists(join(dir, MARKER))) return false;
  const parent = join(dir, "..");
  await Deno.mkdir(parent, { recursive: true });
  const building = await Deno.makeTempDir({ dir: parent, prefix: ".pglite-template-" });
  try {
    const db = await PGlite.create(building);
    await db.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(building, dir);
    return true;
  } finally {
    await Deno.remove(building, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? DEFAULT_TEMPLATE;
  const made = await makeTemplate(dir);
  const line = made ? `PGlite template made: ${dir}\n` : `PGlite template already there: ${dir}\n`;
  await Deno.stdout.write(new TextEncoder().encode(line));
}
