// docker-compose.yml cannot be started on these machines (no Docker engine): parse it and check
// the structure the cluster relies on — images, ports, environment, healthchecks, start order.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ALL_TOPICS } from '@vpmu/transport';
import { SWEEP_TOPICS } from '../../apps/cli/src/sweep/sweep-wire';
import { REPO_ROOT } from '../support/run-scenario';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  volumes?: string[];
  profiles?: string[];
  restart?: string;
  pull_policy?: string;
  user?: string;
}

const compose = parse(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const s = compose.services;

describe('docker-compose.yml', () => {
  it('runs Kafka in KRaft single-node mode with a healthcheck and no auto-created topics', () => {
    expect(s.kafka.image).toMatch(/^apache\/kafka:\d/);
    const env = s.kafka.environment!;
    expect(env.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe(`${env.KAFKA_NODE_ID}@kafka:9093`);
    expect(env.KAFKA_LISTENERS).toContain('CONTROLLER://:9093');
    expect(env.KAFKA_ADVERTISED_LISTENERS).toContain('PLAINTEXT://kafka:9092');
    expect(env.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false');
    expect(env.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe('1');
    expect(s.kafka.healthcheck!.test.join(' ')).toMatch(/kafka-broker-api-versions\.sh --bootstrap-server localhost:9092/);
    expect(s.kafka.ports).toContain('9094:9094');
  });

  it('creates every topic in a one-shot init job after Kafka is healthy', () => {
    const init = s['kafka-init'];
    expect(init.image).toBe(s.kafka.image);
    expect(init.depends_on).toEqual({ kafka: { condition: 'service_healthy' } });
    expect(init.restart).toBe('no');
    const script = [...(init.entrypoint ?? []), ...[init.command ?? []].flat()].join('\n');
    expect(script).toContain('kafka-topics.sh --bootstrap-server kafka:9092 --create --if-not-exists');
    for (const t of ALL_TOPICS) expect(script).toContain(t);
    // The script reads the partition count from its own environment, which must carry the same
    // setting the services get (without it the shell default always wins).
    expect(script).toContain('--partitions "$${VPMU_PARTITIONS');
    expect(init.environment!.VPMU_PARTITIONS).toBe('${VPMU_PARTITIONS:-4}');
    expect(s.aggregator.environment!.VPMU_PARTITIONS).toBe(init.environment!.VPMU_PARTITIONS);
  });

  it('creates ./out for the services user before anything writes to it', () => {
    const init = s['out-init'];
    expect(init.image).toBe(s.aggregator.image);
    expect(init.user).toBe('0:0');
    expect(init.volumes).toEqual(['./out:/data/out']);
    expect([init.command ?? []].flat().join(' ')).toContain('chown node:node /data/out');
    for (const n of ['aggregator', 'vpmu']) expect(s[n].depends_on!['out-init']).toEqual({ condition: 'service_completed_successfully' });
    expect(fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8')).toMatch(/^USER node$/m);
  });

  it('runs Jaeger v2 with OTLP gRPC/HTTP, the UI and a healthcheck on its healthcheckv2 endpoint', () => {
    expect(s.jaeger.image).toMatch(/^jaegertracing\/jaeger:2\./);
    expect(s.jaeger.ports).toEqual(expect.arrayContaining(['16686:16686', '4317:4317', '4318:4318']));
    expect(s.jaeger.healthcheck!.test.join(' ')).toContain('http://localhost:13133/status');
  });

  it('builds one image once for the services, with several host-node replicas and the start order', () => {
    const services = ['aggregator', 'host-node', 'guest-vm'];
    const images = new Set([...services, 'vpmu', 'out-init'].map((n) => s[n].image));
    expect(images.size).toBe(1);
    expect(fs.existsSync(path.join(REPO_ROOT, 'Dockerfile'))).toBe(true);
    // Only one service builds; the others use its image and never pull it from a registry.
    expect(Object.keys(s).filter((n) => s[n].build !== undefined)).toEqual(['aggregator']);
    expect(s.aggregator.build).toBe('.');
    for (const n of ['host-node', 'guest-vm', 'vpmu', 'out-init']) expect(s[n].pull_policy).toBe('never');
    for (const n of services) {
      expect(s[n].command).toEqual([`dist/apps/${n}/main.js`]);
      expect(s[n].environment!.KAFKA_BROKERS).toBe('kafka:9092');
      expect(s[n].depends_on!.kafka).toEqual({ condition: 'service_healthy' });
      expect(s[n].depends_on!['kafka-init']).toEqual({ condition: 'service_completed_successfully' });
    }
    expect(s['host-node'].deploy!.replicas).toBeGreaterThanOrEqual(2);
    expect(s['guest-vm'].deploy!.replicas).toBeGreaterThanOrEqual(2);
    expect(s.aggregator.environment!.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://jaeger:4318');
    expect(s.aggregator.depends_on!.jaeger).toEqual({ condition: 'service_healthy' });
    expect(s.aggregator.environment!.VPMU_OUT).toBe('/data/out');
    expect(s.aggregator.volumes).toContain('./out:/data/out');
  });

  it('runs sweep workers (vpmu sweep --kafka) from the same image, after the init job created their topics', () => {
    const w = s['sweep-worker'];
    expect(w.image).toBe(s.aggregator.image);
    expect(w.pull_policy).toBe('never');
    expect(w.command).toEqual(['dist/apps/cli/main.js', 'cluster', 'sweep-worker']);
    expect(w.environment!.KAFKA_BROKERS).toBe('kafka:9092');
    expect(w.depends_on!['kafka-init']).toEqual({ condition: 'service_completed_successfully' });
    expect(w.deploy!.replicas).toBeGreaterThanOrEqual(2);
    const init = s['kafka-init'];
    const script = [...(init.entrypoint ?? []), ...[init.command ?? []].flat()].join('\n');
    for (const t of Object.values(SWEEP_TOPICS)) expect(script).toContain(t);
  });

  it('offers the CLI as an on-demand service on the same network', () => {
    expect(s.vpmu.profiles).toEqual(['cli']);
    expect(s.vpmu.image).toBe(s.aggregator.image);
    expect(s.vpmu.environment!.KAFKA_BROKERS).toBe('kafka:9092');
  });

  it('has a Dockerfile whose build produces the entry points compose runs', () => {
    const dockerfile = fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20/m);
    expect(dockerfile).toContain('npm run build');
    expect(dockerfile).toMatch(/ENTRYPOINT \["node"\]/);
  });
});
