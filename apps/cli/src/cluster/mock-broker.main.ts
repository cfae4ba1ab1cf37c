// A throwaway local Kafka-protocol broker for `vpmu cluster up --mock-broker`: the librdkafka mock
// cluster of Debian's kcat, kept alive by this small supervisor so it outlives the CLI. Piping
// kcat's stderr into a command that exits early (`| grep -m1 …`) kills the broker with SIGPIPE;
// this process keeps reading (and dropping) kcat's debug log instead, prints the address once on
// stdout ("bootstrap.servers=HOST:PORT"), and stops kcat when it is itself stopped.
import { startKcatMock } from './kcat-mock';

async function main(): Promise<void> {
  const broker = await startKcatMock();
  process.stdout.write(`bootstrap.servers=${broker.address}\n`);
  broker.process.once('exit', (code, signal) => {
    process.stderr.write(`kcat mock broker exited (${signal ?? code})\n`);
    process.exit(1);
  });
  const stop = (): void => {
    broker.process.removeAllListeners('exit');
    void broker.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: Error) => {
  process.stderr.write(`error: ${err.message}\n`);
  process.exit(1);
});
