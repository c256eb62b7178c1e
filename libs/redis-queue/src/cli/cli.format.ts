import { styleText } from 'util';

/** Output helpers of the CLI: aligned tables, times, colors only on a terminal (and never with NO_COLOR). */

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;

export const bold = (text: string) => (color ? styleText('bold', text) : text);
export const dim = (text: string) => (color ? styleText('dim', text) : text);
export const red = (text: string) => (color ? styleText('red', text) : text);
export const yellow = (text: string) => (color ? styleText('yellow', text) : text);

/** Visible width (without color codes). */
function width(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** A table: a header row and rows, columns padded; columns named in `right` are right-aligned (numbers). */
export function table(header: string[], rows: string[][], right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i] - width(cell));
        return right.has(i) ? pad + cell : i === cells.length - 1 ? cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  return [bold(line(header)), ...rows.map(line)].join('\n');
}

export const count = (n: number) => n.toLocaleString('en-US');

/** "12 s ago", "in 3 min", relative to `now`. */
export function relative(at: Date | undefined, now = Date.now()): string {
  if (!at) return '-';
  const ms = at.getTime() - now;
  const abs = Math.abs(ms);
  const text =
    abs < 1000 ? `${abs} ms` : abs < 120_000 ? `${Math.round(abs / 1000)} s` : abs < 7_200_000 ? `${Math.round(abs / 60_000)} min` : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)} h` : `${Math.round(abs / 86_400_000)} d`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

export function iso(at: Date | undefined): string {
  return at ? at.toISOString() : '-';
}

/** One line of JSON, cut to `max` characters. */
export function short(value: unknown, max = 60): string {
  if (value === undefined) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `key: value` lines, keys padded. */
export function fields(entries: Array<[string, string]>): string {
  const w = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${bold(`${k}:`.padEnd(w + 1))} ${v}`).join('\n');
}
