import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isOperatingError, OperatingError } from '@vpmu/errors';
import { CostModel } from '@vpmu/kvm';
import { RecordingBadMagicError, RecordingCorruptError, RecordingIoError, RecordingNotFoundError } from '@vpmu/recording';
import { TelemetryError } from '@vpmu/telemetry';
import {
  ClusterNotReadyError,
  KafkaRunIncompleteError,
  KafkaRunNotFoundError,
  KafkaSetupError,
  KafkaUnavailableError,
  NodeLostError,
  parseBrokers,
  parseServiceConfig,
  RunStartError,
} from '@vpmu/transport';
import { CliError, EXIT } from './cli-error';
import type { CommandIo } from './commands/command-io';
import { SimulationFailedError } from './embedded-runtime';
import { exitCodeFor } from './exit-codes';
import { main } from './main';

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('exit codes of failures', () => {
  const cases: [string, unknown, number][] = [
    ['a CliError without a kind (bad input)', new CliError('bad flag'), EXIT.badInput],
    ['a CliError given an exit code', new CliError('cluster did not start', EXIT.unavailable), EXIT.unavailable],
    ['a CliError given a kind', new CliError('diverged', 'diverged'), EXIT.diverged],
    ['a missing recording', new RecordingNotFoundError('x.vpmurec'), EXIT.badInput],
    ['a corrupt recording', new RecordingCorruptError('x.vpmurec', 'frame CRC mismatch', 120, 3), EXIT.badInput],
    ['a file that is no recording', new RecordingBadMagicError('x.vpmurec'), EXIT.badInput],
    ['a full disk under the recording', new RecordingIoError('x.vpmurec', 'write', { code: 'ENOSPC' }), EXIT.badInput],
    ['a broker that does not answer', new KafkaUnavailableError('cannot reach Kafka', ['k:9092']), EXIT.unavailable],
    ['topics that cannot be created', new KafkaSetupError('cannot create the topics'), EXIT.unavailable],
    ['a broker address that is not HOST:PORT', thrownBy(() => parseBrokers('nope')), EXIT.badInput],
    ['a bad service argument', thrownBy(() => parseServiceConfig('host-node', ['--bogus', '1'], {})), EXIT.badInput],
    ['an unknown run id', new KafkaRunNotFoundError('r1', ['r0'], ['k:9092']), EXIT.badInput],
    ['a run that did not complete', new KafkaRunIncompleteError('run r1 did not complete', false), EXIT.badInput],
    ['a control topic the broker did not deliver in time', new KafkaRunIncompleteError('could not read vpmu.control', true, 'unavailable'), EXIT.unavailable],
    ['a cluster that is not ready', new ClusterNotReadyError('no aggregator answered'), EXIT.unavailable],
    ['a node that lost its owner', new NodeLostError('host/h0 has no owner', ['host/h0'], 4), EXIT.unavailable],
    ['a collector that is down', new TelemetryError('OTLP_EXPORT_FAILED', 'cannot export to the collector', true), EXIT.unavailable],
    ['a cost parameter the model does not know', thrownBy(() => new CostModel({ msrTrapCycle: 1 }, 2.0)), EXIT.badInput],
    ['a RunStart this tool cannot parse', new RunStartError('the scenario in RunStart is invalid'), EXIT.badInput],
    ['a failed simulation (a bug)', new SimulationFailedError('simulation failed (seed 1): boom'), EXIT.bug],
    ['a plain Error (a bug)', new TypeError('x is undefined'), EXIT.bug],
    ['a thrown non-Error (a bug)', 'a string', EXIT.bug],
  ];

  it.each(cases)('%s', (_what, err, code) => {
    expect(exitCodeFor(err)).toBe(code);
    expect(isOperatingError(err)).toBe(code !== EXIT.bug);
  });

  it('keeps the retriable flag of each operating error', () => {
    expect(new KafkaUnavailableError('down', []).retriable).toBe(true);
    expect(new RecordingIoError('x', 'write', { code: 'ENOSPC' }).retriable).toBe(true);
    expect(new RecordingIoError('x', 'read', { code: 'EACCES' }).retriable).toBe(false);
    expect(new KafkaRunNotFoundError('r', [], []).retriable).toBe(false);
    expect(new CliError('x').retriable).toBe(false);
    expect(new OperatingError('unavailable', 'x', { retriable: true }).retriable).toBe(true);
  });
});

describe('the top-level handler', () => {
  function capture(): { io: CommandIo; err: string[] } {
    const err: string[] = [];
    return { io: { out: () => undefined, err: (l) => err.push(l), stderr: process.stderr }, err };
  }

  it('prints an operating error as one sentence with its details and exits with its code', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-exit-'));
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'name: x\nhosts: 3\n');
    try {
      const { io, err } = capture();
      expect(await main(['validate', file], io)).toBe(EXIT.badInput);
      expect(err[0]).toMatch(new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a valid scenario \\(\\d+ errors?\\)`));
      expect(err.slice(1).length).toBeGreaterThan(0);
      expect(err.slice(1).every((l) => l.startsWith(`  ${file}`))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 for a recording that does not exist, with the recording lib\'s sentence', async () => {
    const { io, err } = capture();
    expect(await main(['inspect', '/nonexistent/x.vpmurec', '--at', '1ms'], io)).toBe(EXIT.badInput);
    expect(err[0]).toBe(`error: ${new RecordingNotFoundError('/nonexistent/x.vpmurec').message}`);
  });
});
