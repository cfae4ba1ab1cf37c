// The librdkafka mock cluster shipped in Debian's kcat, as a throwaway Kafka-protocol broker for
// cluster tests and the bench (docs/cluster.md). `kcat -X test.mock.num.brokers=1 -d mock
// -C -t <any> -b localhost:1` prints "bootstrap.servers=127.0.0.1:PORT" on stderr and serves
// until killed. Its topics auto-create with 4 partitions (see ensure-topics.ts).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface MockBroker {
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function kcatAvailable(): boolean {
  return spawnSync('kcat', ['-V'], { stdio: 'ignore' }).status === 0;
}

export function startKcatMock(timeoutMs = 10_000): Promise<MockBroker> {
  const child = spawn('kcat', ['-X', 'test.mock.num.brokers=1', '-d', 'mock', '-C', '-t', 'vpmu.mock', '-b', 'localhost:1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => fail(new Error(`kcat mock broker printed no address within ${timeoutMs} ms: ${stderr.slice(-500)}`)), timeoutMs); // wall-clock ok: test infrastructure
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`kcat exited (${code}) before serving: ${stderr.slice(-500)}`)));
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 100_000) stderr += d.toString('utf8');
      const m = /bootstrap\.servers=([0-9.]+:\d+)/.exec(stderr);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      // Keep draining stderr (the mock logs every request at debug level) so kcat never blocks.
      child.stderr!.removeAllListeners('data');
      child.stderr!.resume();
      resolve({
        address: m[1],
        process: child,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 2000).unref(); // wall-clock ok: test infrastructure
          }),
      });
    });
  });
}
