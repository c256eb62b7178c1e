import { appendFileSync } from 'fs';

/**
 * Figures the scale suites measure (failover losses, timings, load spread). Printed to stderr when the
 * file's tests end, so they show in CI logs; `SCALE_REPORT=path` also appends them to that file.
 */
export class Report {
  private readonly lines: string[] = [];

  constructor(private readonly title: string) {}

  add(line: string): void {
    this.lines.push(line);
  }

  print(): void {
    if (this.lines.length === 0) return;
    const text = `\n== ${this.title} ==\n${this.lines.map((l) => `  ${l}`).join('\n')}\n`;
    process.stderr.write(text);
    if (process.env.SCALE_REPORT) appendFileSync(process.env.SCALE_REPORT, text);
  }
}
