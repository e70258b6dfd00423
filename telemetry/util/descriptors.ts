/**
 * Whether the process has file descriptors to spare. Loading a module reads files, and Deno
 * 2.9 can panic instead of failing when a module load finds none left (stacker's stack-limit
 * probe asserts on EMFILE), so the late sink installs check first and wait for a better time.
 */

/** True when `count` descriptors could be opened (and were closed again) right now. */
export function descriptorsFree(count: number): boolean {
  const opened: Deno.FsFile[] = [];
  try {
    for (let i = 0; i < count; i++) opened.push(Deno.openSync("/dev/null"));
    return true;
  } catch (error) {
    // Without read permission (or /dev/null) nothing can be told: assume there are.
    return !(error instanceof Error && /os error 2[34]\b|Too many open files/.test(error.message));
  } finally {
    for (const file of opened) file.close();
  }
}
