import { closest, didYouMean } from './did-you-mean';

describe('closest', () => {
  it.each([
    ['pcpu', ['id', 'cpu', 'pcpus'], 'pcpus'],
    ['mdoe', ['mode', 'filter'], 'mode'],
    ['passthru', ['none', 'emulated', 'passthrough', 'paravirt'], 'passthrough'],
    ['durationNs', ['duration', 'epoch'], 'duration'],
    ['PCPUS', ['pcpus'], 'pcpus'],
    ['frobnicate', ['duration', 'epoch'], undefined],
    ['x', ['id', 'cpu'], undefined],
  ])('%s → %s', (word, candidates, expected) => {
    expect(closest(word, candidates)).toBe(expected);
  });

  it('renders a hint or nothing', () => {
    expect(didYouMean('pcpu', ['pcpus'])).toBe(' (did you mean "pcpus"?)');
    expect(didYouMean('zzz', ['pcpus'])).toBe('');
  });
});
