/**
 * Debian's Chromium driven headless through playwright-core, with a fresh profile that is
 * removed on close. A missing browser is an error, never a skip: CI installs it.
 */
import fs from "node:fs";
import type { BrowserContext } from "playwright-core";

/** Where Debian's package puts the browser; CHROMIUM_PATH overrides it. */
export const CHROMIUM_PATH = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** Flags that keep a headless run quiet, offline and reproducible. */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/**
 * playwright-core probes `/proc/sys/fs/binfmt_misc/WSLInterop` with `fs.existsSync` when it
 * loads; Deno answers a `/proc` path without `--allow-all` by throwing NotCapable, where Node's
 * existsSync never throws. Node's contract is restored for the import only, so the suite keeps
 * its explicit permissions instead of `-A`.
 */
async function importPlaywright(): Promise<typeof import("playwright-core")> {
  const existsSync = fs.existsSync;
  fs.existsSync = function existsSyncNeverThrows(path: fs.PathLike): boolean {
    try {
      return existsSync(path);
    } catch {
      return false;
    }
  };
  try {
    return await import("playwright-core");
  } finally {
    fs.existsSync = existsSync;
  }
}

/** A running browser with its own profile. */
export interface Chromium {
  context: BrowserContext;
  /** Closes the browser and removes the profile; safe to call twice. */
  close(): Promise<void>;
}

/** Launches Chromium; throws with the install command when the binary is missing. */
export async function launchChromium(options: { timeoutMs?: number } = {}): Promise<Chromium> {
  try {
    await Deno.stat(CHROMIUM_PATH);
  } catch {
    throw new Error(
      `Cannot run the browser test: no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`,
    );
  }
  const { chromium } = await importPlaywright();
  const profile = await Deno.makeTempDir({ prefix: "cruddur-chromium-" });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      timeout: options.timeoutMs ?? 20_000,
    });
  } catch (error) {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    context,
    close() {
      closing ??= (async () => {
        try {
          await context.close();
        } finally {
          await Deno.remove(profile, { recursive: true }).catch(() => {});
        }
      })();
      return closing;
    },
  };
}
