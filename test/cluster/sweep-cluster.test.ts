// `vpmu sweep --kafka`: the same sweep run on a cluster (the services as separate processes on the
// librdkafka mock broker in kcat) writes the same sweep.json as the local sweep: every point is a
// pure function of (expanded scenario, seed, tool version), whoever simulates it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vpmu } from '../support/cli';
import { clusterDown, clusterUp, startKcatMock, vpmuAsync, type MockBroker } from '../support/cluster';
import { tempDir } from '../support/run-scenario';

jest.setTimeout(300_000);

let broker: MockBroker;
let cwd: string;
const scenarioText = `version: 1
name: sweep-cluster
seed: 4
duration: 8ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: passthrough }
    workload: specint
    guestPerf:
      - id: rec
        command: record
        events: [instructions]
        sample: { freq: 2000 }
`;

beforeAll(async () => {
  broker = await startKcatMock();
  cwd = tempDir('sweep-cluster');
  await clusterUp(cwd, broker.address, { hostNodes: 1, guestVms: 1 });
});

afterAll(async () => {
  if (cwd) await clusterDown(cwd);
  await broker?.stop();
});

it('a cluster sweep writes the same sweep.json as the local one, and fills the cache the same way', async () => {
  const file = path.join(cwd, 'sweep.yaml');
  fs.writeFileSync(file, scenarioText);
  const axis = ['--vary', 'vms.vm1.vpmu.mode=emulated,passthrough'];
  const localOut = path.join(cwd, 'local');
  const local = vpmu(['sweep', file, ...axis, '--out', localOut, '--jobs', '2', '--json'], { timeoutMs: 300_000 });
  expect(local.code).toBe(0);
  const clusterOut = path.join(cwd, 'on-cluster');
  const r = await vpmuAsync(['sweep', file, ...axis, '--out', clusterOut, '--kafka', broker.address, '--json'], { cwd, timeoutMs: 300_000 });
  expect(r.code).toBe(0);
  const stats = JSON.parse(r.stdout) as { simulated: number; cached: number; kafka: string[] };
  // 2 points and their 2 baselines (the mode stays in the baseline), all simulated on the cluster.
  expect(stats).toMatchObject({ simulated: 4, cached: 0, kafka: [broker.address] });
  expect(fs.readFileSync(path.join(clusterOut, 'sweep.json'), 'utf8')).toBe(fs.readFileSync(path.join(localOut, 'sweep.json'), 'utf8'));
  // Run again on the cluster: everything comes from its cache.
  const again = await vpmuAsync(['sweep', file, ...axis, '--out', clusterOut, '--kafka', broker.address, '--json'], { cwd, timeoutMs: 300_000 });
  expect(JSON.parse(again.stdout)).toMatchObject({ simulated: 0, cached: 4 });
});
