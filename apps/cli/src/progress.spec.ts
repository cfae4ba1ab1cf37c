import { Progress } from './progress';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = { isTTY, write: (s: string) => chunks.push(s) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => chunks.join('') };
}

describe('Progress', () => {
  const saved = process.env.CI;
  afterEach(() => {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  });

  it('redraws one bar line on a terminal and ends it with a newline', () => {
    delete process.env.CI;
    const { stream, text } = fakeStream(true);
    const p = new Progress(stream, 'running q');
    p.update(1, 4, 10);
    p.update(4, 4, 40);
    // Each redraw ends with "erase to the end of the line", so a shorter line leaves no residue.
    const ERASE = '\x1b[K';
    expect(text().split(ERASE)).toHaveLength(3);
    const drawn = text().split(ERASE).join('|');
    expect(drawn).toMatch(/^\rrunning q \[#{8}\.{22}\] {2}25% epoch 1\/4 10 events [\d.]+s eta [\d.]+s\|/);
    expect(drawn).toMatch(/\rrunning q \[#{30}\] 100% epoch 4\/4 40 events [\d.]+s\|\n$/);
  });

  it('draws the 100% line once although a run reports its drain epochs past the end', () => {
    delete process.env.CI;
    const { stream, text } = fakeStream(true);
    const p = new Progress(stream, 'running q');
    for (const done of [4, 5, 6]) p.update(done, 4, 40);
    expect(text().match(/100%/g)).toHaveLength(1);
    expect(text().match(/\n/g)).toHaveLength(1);
    const plain = fakeStream(false);
    const q = new Progress(plain.stream, 'running q');
    for (const done of [4, 5, 6]) q.update(done, 4, 40);
    expect(plain.text()).toBe('running q 100% (epoch 4/4, 40 events)\n');
  });

  it('prints one plain line per 10% when not on a terminal', () => {
    const { stream, text } = fakeStream(false);
    const p = new Progress(stream, 'running q');
    for (let e = 1; e <= 100; e++) p.update(e, 100, e * 1000);
    const lines = text().trim().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines[10]).toBe('running q 100% (epoch 100/100, 100.0k events)');
  });

  it('stays silent when disabled (--quiet)', () => {
    const { stream, text } = fakeStream(true);
    new Progress(stream, 'q', false).update(1, 1, 1);
    expect(text()).toBe('');
  });
});
