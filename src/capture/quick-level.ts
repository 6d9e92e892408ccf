import { levelFromValue } from './levels.js';

/**
 * The level of a JSON log line without parsing it: pino writes `{"level":30,...` first, so a look
 * at the first bytes is enough to decide what to drop under overload. Lines without a readable
 * level count as info (30).
 */
export function quickLevel(line: string): number {
  let i = line.indexOf('"level":');
  let skip = 8;
  if (i === -1 || i > 200) {
    i = line.indexOf('"level" :');
    skip = 9;
    if (i === -1 || i > 200) return 30;
  }
  let j = i + skip;
  while (line.charCodeAt(j) === 32) j++;
  const c = line.charCodeAt(j);
  if (c >= 48 && c <= 57) {
    let n = 0;
    while (j < line.length) {
      const d = line.charCodeAt(j);
      if (d < 48 || d > 57) break;
      n = n * 10 + (d - 48);
      j++;
    }
    return n;
  }
  if (c === 34) {
    const end = line.indexOf('"', j + 1);
    if (end !== -1 && end - j < 20) return levelFromValue(line.slice(j + 1, end)) ?? 30;
  }
  return 30;
}
