import { WORKLOAD_PROFILES } from '@vpmu/world-spec';
import { GUEST_PID_BASE, guestTid, pickIp, workloadImage } from './workload-symbols.table';

describe('workload images', () => {
  it('give each profile its own pid above PID_MAX_LIMIT and non-overlapping functions inside the mapping', () => {
    const pids = new Set<number>();
    for (const profile of WORKLOAD_PROFILES) {
      const image = workloadImage(profile);
      expect(image.pid).toBeGreaterThan(4_194_304);
      pids.add(image.pid);
      let end = image.startAddr;
      for (const f of image.functions) {
        expect(f.startAddr).toBeGreaterThanOrEqual(end);
        end = f.startAddr + BigInt(f.sizeBytes);
      }
      expect(end).toBeLessThanOrEqual(image.startAddr + BigInt(image.lengthBytes));
    }
    expect(pids.size).toBe(WORKLOAD_PROFILES.length);
    expect(workloadImage('specint').pid).toBe(GUEST_PID_BASE);
  });

  it('number tasks from the pid: task 0 of vCPU 0 is the main thread', () => {
    const image = workloadImage('fio');
    expect(guestTid(image, 2, 0, 0)).toBe(image.pid);
    expect(guestTid(image, 2, 1, 1)).toBe(image.pid + 3);
  });

  it('pick IPs inside a function, the same for the same key, spread by weight', () => {
    const image = workloadImage('specint');
    const hits = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const ip = pickIp(image, `k${i}`);
      expect(pickIp(image, `k${i}`)).toBe(ip);
      const fn = image.functions.find((f) => ip >= f.startAddr && ip < f.startAddr + BigInt(f.sizeBytes));
      expect(fn).toBeDefined();
      hits.set(fn!.name, (hits.get(fn!.name) ?? 0) + 1);
    }
    const total = image.functions.reduce((s, f) => s + f.weight, 0);
    for (const f of image.functions) expect(Math.abs(hits.get(f.name)! / 5000 - f.weight / total)).toBeLessThan(0.03);
  });
});
