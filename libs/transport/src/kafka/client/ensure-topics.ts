// Topics are created up front (docs/cluster.md: do not rely on auto-create in the data
// path). Two kinds of broker are handled:
// - a real Kafka: admin CreateTopics with the requested partition count;
// - the librdkafka mock cluster in Debian's kcat: it has no CreateTopics API (ApiVersions lists
//   none) and its metadata names controller 0 while its only broker is 1, so kafkajs fails with
//   "Broker 0 not found in the cached metadata". It auto-creates a topic with 4 partitions on a
//   metadata request, which is what the fallback sends.
// The returned counts are the physical ones. Placement uses min(requested, physical) partitions
// (KafkaBus), so `--partitions 1` on the mock behaves like a one-partition topic: every keyed
// message lands on partition 0 and one consumer-group member owns every node.
import { ALL_TOPICS, TOPICS } from '../../bus/topics';
import type { KafkaClient } from './kafka-client.types';
import { KafkaSetupError } from './kafka.errors';

export interface TopicLayout {
  /** Physical partition count per topic. */
  partitions: Map<string, number>;
  /** How the topics came to exist: 'existing', 'created' (CreateTopics) or 'auto-created' (metadata request). */
  how: 'existing' | 'created' | 'auto-created';
}

export async function ensureTopics(client: KafkaClient, requestedPartitions: number, topics: readonly string[] = ALL_TOPICS): Promise<TopicLayout> {
  const admin = client.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    let how: TopicLayout['how'] = 'existing';
    if (missing.length > 0) {
      try {
        await admin.createTopics({
          topics: missing.map((topic) => ({
            topic,
            numPartitions: requestedPartitions,
            replicationFactor: 1,
            // Only the latest checkpoint of a (run, node) is ever read (failover).
            ...(topic === TOPICS.checkpoints && { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }),
          })),
          waitForLeaders: true,
          timeout: 10_000,
        });
        how = 'created';
      } catch (err) {
        // The kcat mock (no controller in its metadata) or a broker that refuses CreateTopics:
        // a metadata request makes brokers with auto-create enabled create them.
        await admin.fetchTopicMetadata({ topics: missing }).catch(() => undefined);
        const now = new Set(await admin.listTopics());
        const still = missing.filter((t) => !now.has(t));
        if (still.length > 0) {
          throw new KafkaSetupError(
            `cannot create the topics ${still.join(', ')} (${(err as Error).message}); create them with ${requestedPartitions} partitions (see docs/cluster.md) and try again.`,
          );
        }
        how = 'auto-created';
      }
    }
    const md = await admin.fetchTopicMetadata({ topics: [...topics] });
    const partitions = new Map<string, number>();
    for (const t of md.topics) partitions.set(t.name, t.partitions.length);
    return { partitions, how };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
