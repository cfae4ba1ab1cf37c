// Operating errors of the Kafka transport (@vpmu/errors): each carries a `retriable` flag and
// a message that says what to do. The CLI maps their kinds to exit codes in one place.
import * as net from 'node:net';
import { OperatingError, type OperatingErrorKind } from '@vpmu/errors';

export class KafkaUnavailableError extends OperatingError {
  constructor(
    message: string,
    readonly brokers: string[],
  ) {
    super('unavailable', message, { retriable: true });
  }
}

/** The broker cannot be set up for a run (topics missing), or (`bad-input`) its address is wrong. */
export class KafkaSetupError extends OperatingError {
  constructor(message: string, kind: OperatingErrorKind = 'unavailable') {
    super(kind, message);
  }
}

/** Turns broker addresses from `--kafka` / KAFKA_BROKERS ("h1:9092,h2:9092") into a list. */
export function parseBrokers(value: string | undefined): string[] {
  const brokers = (value ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  for (const b of brokers) {
    const m = /^(.+):(\d{1,5})$/.exec(b);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new KafkaSetupError(`"${b}" is not a broker address; use HOST:PORT (several separated by commas).`, 'bad-input');
  }
  return brokers;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'no answer',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

function reasonOf(err: unknown): string {
  const code = (err as { code?: string }).code;
  return (code && REASONS[code]) ?? code ?? (err as Error).message ?? String(err);
}

/** Opens (and closes) a TCP connection to one broker; resolves null when it answers, else the reason. */
export function probeBroker(address: string, timeoutMs: number): Promise<string | null> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => done(`no answer within ${Math.round(timeoutMs / 1000)} s`), timeoutMs); // wall-clock ok: connection timeout
    const done = (reason: string | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    socket.once('connect', () => done(null));
    socket.once('error', (err) => done(reasonOf(err)));
  });
}

export function unavailableMessage(brokers: string[], reason: string): string {
  return `cannot reach Kafka at ${brokers.join(',')} (${reason}); start a broker or check --kafka.`;
}

/** Fails fast, with the address and the reason, when no broker accepts a TCP connection. */
export async function assertBrokersReachable(brokers: string[], timeoutMs = 5000): Promise<void> {
  const reasons = await Promise.all(brokers.map((b) => probeBroker(b, timeoutMs)));
  if (reasons.some((r) => r === null)) return;
  const distinct = [...new Set(reasons as string[])];
  throw new KafkaUnavailableError(unavailableMessage(brokers, distinct.join('; ')), brokers);
}

/** Rewrites a kafkajs failure during connect/produce into an operating error naming the brokers. */
export function asUnavailable(brokers: string[], err: unknown): KafkaUnavailableError {
  if (err instanceof KafkaUnavailableError) return err;
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: string }).code;
    if (code && REASONS[code]) return new KafkaUnavailableError(unavailableMessage(brokers, REASONS[code]), brokers);
    const m = /(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EAI_AGAIN)/.exec((e as Error).message ?? '');
    if (m) return new KafkaUnavailableError(unavailableMessage(brokers, REASONS[m[1]]), brokers);
    e = (e as { cause?: unknown; originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return new KafkaUnavailableError(unavailableMessage(brokers, (err as Error).message ?? String(err)), brokers);
}

/** Runs `op`, turning a hang past `timeoutMs` into KafkaUnavailableError. */
export async function withDeadline<T>(brokers: string[], what: string, timeoutMs: number, op: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KafkaUnavailableError(unavailableMessage(brokers, `${what} took longer than ${Math.round(timeoutMs / 1000)} s`), brokers)), timeoutMs); // wall-clock ok: infrastructure timeout
  });
  try {
    return await Promise.race([op(), deadline]);
  } catch (err) {
    if (err instanceof KafkaSetupError) throw err;
    throw asUnavailable(brokers, err);
  } finally {
    clearTimeout(timer);
  }
}
