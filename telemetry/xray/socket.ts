/**
 * The UDP socket the X-Ray sender writes to, in two implementations behind one shape:
 * `Deno.DatagramConn` where the runtime has it (`--unstable-net`, which deno.json enables),
 * about half the CPU per datagram of `node:dgram` measured here; `node:dgram` otherwise, so the
 * sink still works under a plain `deno run` without the flag.
 */
import dgram from "node:dgram";

/** Which implementation sends: Deno's own datagram socket, or node:dgram. */
export type DatagramTransport = "deno" | "node";

/** Reports one send: `undefined` when the kernel took the datagram, else the error. */
export type SendResult = (error: Error | undefined) => void;

/** One unconnected UDP socket; each `send` reports to the socket's {@link SendResult} once, later. */
export interface DatagramSocket {
  readonly transport: DatagramTransport;
  send(datagram: Uint8Array, address: string, port: number): void;
  /** Closes the socket; sends still out report an error or nothing (the sender ignores them). */
  close(): Promise<void>;
}

/** The shape of `Deno.listenDatagram` that is used, so type checking needs no unstable types. */
type ListenDatagram = (options: {
  transport: "udp";
  hostname: string;
  port: number;
}) => {
  send(
    datagram: Uint8Array,
    address: { transport: "udp"; hostname: string; port: number },
  ): Promise<
    number
  >;
  close(): void;
};

/** `Deno.listenDatagram` when the runtime exposes it (`--unstable-net`), else undefined. */
function denoListenDatagram(): ListenDatagram | undefined {
  const listen = (Deno as unknown as { listenDatagram?: ListenDatagram }).listenDatagram;
  return typeof listen === "function" ? listen : undefined;
}

/** The transport a socket opened now would use. */
export function availableTransport(): DatagramTransport {
  return denoListenDatagram() !== undefined ? "deno" : "node";
}

/**
 * Opens a socket of the address family on an ephemeral port of every interface (as node:dgram
 * does on its first send). `transport` forces one implementation (tests run both); "deno"
 * without the runtime's support throws.
 */
export function openDatagramSocket(
  family: 4 | 6,
  result: SendResult,
  onError: (error: Error) => void,
  transport: DatagramTransport = availableTransport(),
): DatagramSocket {
  if (transport === "node") return new NodeSocket(family, result, onError);
  const listen = denoListenDatagram();
  if (listen === undefined) throw new Error("Deno.listenDatagram needs --unstable-net");
  const hostname = family === 6 ? "::" : "0.0.0.0";
  return new DenoSocket(listen({ transport: "udp", hostname, port: 0 }), result);
}

/**
 * Deno.DatagramConn: one promise per send and no closure per send: every result goes to the
 * same two callbacks (the sender only counts, so the order results come in does not matter).
 */
class DenoSocket implements DatagramSocket {
  readonly transport = "deno";
  readonly #conn: ReturnType<ListenDatagram>;
  /** The destination object, reused for every send to the same address. */
  #target = { transport: "udp" as const, hostname: "", port: 0 };
  readonly #sent: () => void;
  readonly #failed: (error: unknown) => void;

  constructor(conn: ReturnType<ListenDatagram>, result: SendResult) {
    this.#conn = conn;
    this.#sent = () => result(undefined);
    this.#failed = (error) => result(error instanceof Error ? error : new Error(String(error)));
  }

  send(datagram: Uint8Array, address: string, port: number): void {
    if (this.#target.hostname !== address || this.#target.port !== port) {
      this.#target = { transport: "udp", hostname: address, port };
    }
    this.#conn.send(datagram, this.#target).then(this.#sent, this.#failed);
  }

  close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    return Promise.resolve();
  }
}

/** node:dgram, unref'd so an idle socket never keeps the process alive. */
class NodeSocket implements DatagramSocket {
  readonly transport = "node";
  readonly #socket: dgram.Socket;
  readonly #callback: (error: Error | null) => void;

  constructor(family: 4 | 6, result: SendResult, onError: (error: Error) => void) {
    this.#socket = dgram.createSocket(family === 6 ? "udp6" : "udp4");
    this.#socket.on("error", onError);
    this.#socket.unref();
    this.#callback = (error) => result(error ?? undefined);
  }

  send(datagram: Uint8Array, address: string, port: number): void {
    this.#socket.send(datagram, port, address, this.#callback);
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
