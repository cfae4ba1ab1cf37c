// `vpmu run --kafka --json`: the same key figures as an embedded run's --json (one JSON object on
// stdout, nothing else), plus the cluster's own: placement and barrier round trip. Against the
// librdkafka mock broker in kcat and the services as separate processes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vpmu } from '../support/cli';
import { clusterDown, clusterUp, startKcatMock, vpmuAsync, type MockBroker } from '../support/cluster';
import { SCENARIOS_DIR, tempDir } from '../support/run-scenario';

jest.setTimeout(180_000);

let broker: MockBroker;
let cwd: string;

beforeAll(async () => {
  broker = await startKcatMock();
  cwd = tempDir('run-json');
  await clusterUp(cwd, broker.address, { hostNodes: 1, guestVms: 1 });
});

afterAll(async () => {
  if (cwd) await clusterDown(cwd);
  await broker?.stop();
});

it('prints the figures of the embedded run, the placement and the files as JSON', async () => {
  const scenario = path.join(SCENARIOS_DIR, 'quickstart.yaml');
  const embedded = vpmu(['run', scenario, '--out', tempDir('run-json-embedded'), '--json']);
  expect(embedded.code).toBe(0);
  const r = await vpmuAsync(['run', scenario, '--kafka', broker.address, '--json'], { cwd });
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout);
  const local = JSON.parse(embedded.stdout);
  for (const key of ['runId', 'seed', 'epochs', 'events', 'vms', 'findings', 'digest', 'contentDigest']) expect({ key, value: out[key] }).toEqual({ key, value: local[key] });
  expect(out.brokers).toEqual([broker.address]);
  expect(out.placement.length).toBeGreaterThan(0);
  expect(typeof out.barrierRoundTripP50Ms).toBe('number');
  expect(r.stdout).not.toMatch(/[0-9]\.[0-9]{4,}/);
  for (const f of out.files as string[]) expect(fs.existsSync(path.resolve(cwd, f))).toBe(true);
});
