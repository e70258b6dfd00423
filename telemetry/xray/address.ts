/**
 * AWS_XRAY_DAEMON_ADDRESS, parsed: its own module so config.ts validates it without loading
 * the X-Ray sink (its UDP sender, node:dgram and node:dns among them).
 */
import type { DaemonAddress } from "./sender.ts";

/** The daemon's default address, as the SDKs use it. */
export const DEFAULT_DAEMON_ADDRESS: DaemonAddress = { host: "127.0.0.1", port: 2000 };

/**
 * Parses AWS_XRAY_DAEMON_ADDRESS: `host:port`, `[v6]:port`, or `udp:host:port tcp:host:port`
 * (either order; the UDP part is used). Undefined or empty gives 127.0.0.1:2000.
 */
export function parseDaemonAddress(value: string | undefined): DaemonAddress {
  const text = value?.trim() ?? "";
  if (text.length === 0) return { ...DEFAULT_DAEMON_ADDRESS };
  const parts = text.split(/\s+/);
  let target: string | undefined;
  if (parts.length === 1) {
    target = parts[0];
  } else if (parts.length === 2) {
    const udp = parts.filter((part) => /^udp:/i.test(part));
    const tcp = parts.filter((part) => /^tcp:/i.test(part));
    if (udp.length === 1 && tcp.length === 1) target = udp[0]?.slice(4);
  }
  const match = target === undefined ? null : /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(target);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !(port > 0 && port < 65536)) {
    throw new TypeError(
      `AWS_XRAY_DAEMON_ADDRESS must be "host:port" or "udp:host:port tcp:host:port", got "${text}"`,
    );
  }
  return { host, port };
}

/**
 * The daemon's TCP address (its proxy to the X-Ray API, for centralized sampling): the `tcp:`
 * part of a two-part AWS_XRAY_DAEMON_ADDRESS, else the same host and port as UDP.
 */
export function parseDaemonTcpAddress(value: string | undefined): DaemonAddress {
  const parts = value?.trim().split(/\s+/) ?? [];
  const tcp = parts.length === 2 ? parts.find((part) => /^tcp:/i.test(part)) : undefined;
  return parseDaemonAddress(tcp === undefined ? value : tcp.slice(4));
}
