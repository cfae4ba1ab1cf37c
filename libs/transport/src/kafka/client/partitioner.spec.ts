import { Partitioners } from 'kafkajs';
import { murmur2, partitionForKey } from './partitioner';

describe('partitionForKey', () => {
  it('places keys exactly where kafkajs (and the Java client) place them', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'host/h1', 'host/h2', 'vm/vm-emulated', 'aggregator', 'conductor', 'host/très-long-nom-ünïcode'];
    for (const n of [1, 3, 4, 7, 12]) {
      const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      for (const key of keys) {
        expect(partitionForKey(key, n)).toBe(kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } }));
      }
    }
  });

  it('pins murmur2 with golden values', () => {
    // Values from org.apache.kafka.common.utils.Utils.murmur2.
    expect(murmur2('21')).toBe(-973932308);
    expect(murmur2('foobar')).toBe(-790332482);
    expect(murmur2('a-little-bit-long-string')).toBe(-985981536);
    expect(murmur2('a-little-bit-longer-string')).toBe(-1486304829);
    expect(murmur2('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')).toBe(-58897971);
  });

  it('rejects a non-positive partition count', () => {
    expect(() => partitionForKey('k', 0)).toThrow(/positive integer/);
  });
});
