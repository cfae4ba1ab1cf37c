// A broker restart for the cluster tests. The kcat mock cannot be restarted in place: librdkafka
// 2.0.2's mock cluster binds an ephemeral port (no setting pins it) and keeps its topics, offsets
// and groups in memory only, so a new kcat is another, empty broker on another port. A real Kafka
// restart keeps its log and comes back on its address; what clients see is their connections
// dropping and the broker refusing connections for a while. This proxy reproduces exactly that
// in front of the mock, on a fixed port: stop() destroys every connection and stops listening,
// restart() listens on the same port again, and the mock behind it keeps its log.
//
// Kafka clients connect to the brokers the Metadata (and FindCoordinator) responses advertise,
// not to the bootstrap address, so the proxy rewrites those responses to advertise itself; it
// tracks each request's API key and version by correlation id to know which responses to
// rewrite. kafkajs 2.2 uses the non-flexible versions of both (Metadata v0-v6, FindCoordinator
// v0-v2), whose layouts are below.
import * as net from 'node:net';

const METADATA = 3;
const FIND_COORDINATOR = 10;

export class KafkaRestartProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  connections = 0;

  private constructor(private readonly upstream: { host: string; port: number }) {}

  /** Starts the proxy in front of `upstream` (HOST:PORT) on an ephemeral port. */
  static async start(upstream: string): Promise<KafkaRestartProxy> {
    const i = upstream.lastIndexOf(':');
    const proxy = new KafkaRestartProxy({ host: upstream.slice(0, i), port: Number(upstream.slice(i + 1)) });
    await proxy.listen(0);
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The broker goes away: every connection is reset and new ones are refused. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The broker is back, on the same port, with the same log. */
  async restart(): Promise<void> {
    if (this.server) return;
    await this.listen(this.port);
  }

  private listen(port: number): Promise<void> {
    const server = net.createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  private accept(client: net.Socket): void {
    this.connections++;
    const upstream = net.connect(this.upstream);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const requests = new Map<number, { apiKey: number; apiVersion: number }>();
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    frames(client, (frame) => {
      // Request header: api_key int16, api_version int16, correlation_id int32, ...
      requests.set(frame.readInt32BE(8), { apiKey: frame.readInt16BE(4), apiVersion: frame.readInt16BE(6) });
      upstream.write(frame);
    });
    frames(upstream, (frame) => {
      const correlationId = frame.readInt32BE(4);
      const request = requests.get(correlationId);
      requests.delete(correlationId);
      client.write(request ? this.rewrite(request.apiKey, request.apiVersion, frame) : frame);
    });
  }

  /** Makes a Metadata / FindCoordinator response advertise the proxy instead of the broker. */
  private rewrite(apiKey: number, version: number, frame: Buffer): Buffer {
    if (apiKey === METADATA && version <= 8) {
      let at = 8 + (version >= 3 ? 4 : 0); // size, correlation id, [throttle_time_ms]
      const count = frame.readInt32BE(at);
      at += 4;
      const parts: Buffer[] = [frame.subarray(0, at)];
      for (let b = 0; b < count; b++) {
        const nodeId = frame.readInt32BE(at);
        const hostLength = frame.readInt16BE(at + 4);
        const afterHost = at + 6 + hostLength;
        let end = afterHost + 4; // port
        if (version >= 1) {
          const rackLength = frame.readInt16BE(end);
          end += 2 + Math.max(rackLength, 0);
        }
        parts.push(this.broker(nodeId), frame.subarray(afterHost + 4, end));
        at = end;
      }
      parts.push(frame.subarray(at));
      return withSize(Buffer.concat(parts));
    }
    if (apiKey === FIND_COORDINATOR && version <= 2) {
      let at = 8;
      if (version >= 1) at += 4; // throttle_time_ms
      at += 2; // error_code
      if (version >= 1) at += 2 + Math.max(frame.readInt16BE(at), 0); // error_message
      const nodeId = frame.readInt32BE(at);
      const hostLength = frame.readInt16BE(at + 4);
      const afterPort = at + 6 + hostLength + 4;
      return withSize(Buffer.concat([frame.subarray(0, at), this.broker(nodeId), frame.subarray(afterPort)]));
    }
    return frame;
  }

  /** node_id int32, host string, port int32: this proxy. */
  private broker(nodeId: number): Buffer {
    const host = Buffer.from('127.0.0.1');
    const b = Buffer.alloc(4 + 2 + host.length + 4);
    b.writeInt32BE(nodeId, 0);
    b.writeInt16BE(host.length, 4);
    host.copy(b, 6);
    b.writeInt32BE(this.port, 6 + host.length);
    return b;
  }
}

/** Calls `onFrame` with each whole size-prefixed Kafka frame (size included) read from `socket`. */
function frames(socket: net.Socket, onFrame: (frame: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0);
      if (pending.length < 4 + size) break;
      onFrame(pending.subarray(0, 4 + size));
      pending = pending.subarray(4 + size);
    }
  });
}

function withSize(frame: Buffer): Buffer {
  frame.writeInt32BE(frame.length - 4, 0);
  return frame;
}
