import pc from 'picocolors';

/** Colour helpers that honour `NO_COLOR`, `FORCE_COLOR` and whether stdout is a terminal. */
export interface Colors {
  enabled: boolean;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  cyan(s: string): string;
  magenta(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

/** Decide whether to colour output for `stream` (NO_COLOR wins, then FORCE_COLOR, then isTTY). */
export function colorsEnabled(stream: NodeJS.WriteStream = process.stdout, env = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

/** Colour functions for `stream`; identity functions when colour is off. */
export function makeColors(stream: NodeJS.WriteStream = process.stdout, env = process.env): Colors {
  const enabled = colorsEnabled(stream, env);
  const c = pc.createColors(enabled);
  return {
    enabled,
    red: c.red,
    yellow: c.yellow,
    green: c.green,
    cyan: c.cyan,
    magenta: c.magenta,
    dim: c.dim,
    bold: c.bold,
  };
}

/** Print one JSON value on its own line (for `--json` output of single objects). */
export function printJson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Print one NDJSON line (for `--json` output of record streams). */
export function printNdjson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${JSON.stringify(value)}\n`);
}

/** Progress to stderr, so stdout stays clean for data. Silent when `quiet`. */
export function progress(message: string, quiet = false): void {
  if (!quiet) process.stderr.write(`${message}\n`);
}

/** Render rows as an aligned text table; widths ignore ANSI codes. */
export function renderTable(headers: string[], rows: string[][], colors?: Colors): string {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = headers.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const pad = (s: string, w: number) => s + ' '.repeat(Math.max(0, w - visible(s)));
  const head = headers.map((h, i) => pad(h, widths[i] ?? 0)).join('  ');
  const lines = [colors ? colors.bold(head) : head];
  for (const row of rows) {
    lines.push(
      row
        .map((cell, i) => (i === row.length - 1 ? cell : pad(cell, widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    );
  }
  return `${lines.join('\n')}\n`;
}
