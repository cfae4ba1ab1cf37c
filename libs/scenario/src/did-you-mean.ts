// "Did you mean ...?" for unknown keys and unknown references: the closest candidate by edit
// distance (optimal string alignment, so a swapped pair of letters counts as one edit).

const UNIT_SUFFIXES = ['Ns', 'Bytes', 'BytesPerSec', 'Epochs', 'Hz', 'Events'];

export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  // The normalized field names carry units (durationNs); the YAML names do not (duration).
  for (const suffix of UNIT_SUFFIXES) {
    if (word.endsWith(suffix)) {
      const stem = word.slice(0, -suffix.length);
      if (candidates.includes(stem)) return stem;
    }
  }
  let best: string | undefined;
  let bestDistance = Infinity;
  let bestPrefix = -1;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    const d = cl === lower ? 0 : editDistance(lower, cl);
    // Ties go to the candidate sharing the longest prefix: "pcpu" → "pcpus", not "cpu".
    const prefix = commonPrefix(lower, cl);
    if (d < bestDistance || (d === bestDistance && prefix > bestPrefix)) {
      bestDistance = d;
      bestPrefix = prefix;
      best = c;
    }
  }
  const allowed = Math.max(1, Math.floor(word.length / 3));
  if (bestDistance <= allowed) return best;
  // A long shared beginning is a near miss too: "passthru" → "passthrough".
  let longest: string | undefined;
  let longestPrefix = 0;
  for (const c of candidates) {
    const p = commonPrefix(lower, c.toLowerCase());
    if (p > longestPrefix) {
      longestPrefix = p;
      longest = c;
    }
  }
  return longestPrefix >= Math.max(4, Math.ceil(word.length * 0.6)) ? longest : undefined;
}

export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean "${c}"?)`;
}

function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => {
    const row = new Array<number>(cols).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j < cols; j++) d[0][j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[rows - 1][cols - 1];
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
