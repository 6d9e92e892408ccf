/**
 * Fencing untrusted text (pure but for the boundary's randomness): log lines, gate output and
 * tool results reach the model between lines carrying a random boundary the text cannot know.
 */
import { randomBytes } from 'node:crypto';

/** A fresh fence boundary: 16 bytes from the CSPRNG (crypto.randomBytes), as hex. */
export function newBoundary(): string {
  return randomBytes(16).toString('hex');
}

/** The opening and closing lines that fence untrusted data, for a boundary. */
export function fenceLines(boundary: string, label: string): { open: string; close: string } {
  return {
    open: `<untrusted-data kind="${label}" boundary="${boundary}">`,
    close: `</untrusted-data boundary="${boundary}">`,
  };
}

/**
 * Quote untrusted text (log lines, stack traces) as data: fenced between lines that carry a
 * random `boundary` the text cannot know. Any occurrence of the boundary inside the text is
 * broken up so the fence cannot be closed from inside.
 */
export function quoteUntrusted(text: string, boundary: string, label = 'log'): string {
  const { open, close } = fenceLines(boundary, label);
  const safe = text.split(boundary).join(`${boundary.slice(0, 4)}\u200b${boundary.slice(4)}`);
  return `${open}\n${safe}\n${close}`;
}
