/**
 * Descriptor exhaustion against a running backend: idle connections that hold file
 * descriptors, and a health probe. Shared by tests/listener_test.ts and `deno task reliability`.
 */

/** Opens idle connections until `count` attempts were made; refused ones are counted. */
export async function hogDescriptors(
  url: string,
  count: number,
): Promise<{ conns: Deno.Conn[]; refused: number }> {
  const { hostname, port } = new URL(url);
  const conns: Deno.Conn[] = [];
  let refused = 0;
  for (let i = 0; i < count; i++) {
    try {
      conns.push(await Deno.connect({ hostname, port: Number(port) }));
    } catch {
      // Refused: the listener is already gone.
      refused++;
    }
  }
  return { conns, refused };
}

/** True when the health check answers 200 within a second. */
export async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/api/health-check`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}
