/** An append-only JSON-lines training log: one object per line, with `step` as the key for resuming. */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** One logged step: the step number plus numbers (losses, lr, samples/s) and short strings. */
export type LogRecord = { step: number } & Record<string, number | string>;

/** Reads every record of a log (a missing file is empty; a torn last line is dropped). */
export function readJsonl(path: string): LogRecord[] {
  if (!existsSync(path)) return [];
  const out: LogRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      break;
    }
  }
  return out;
}

export class JsonlLog {
  /**
   * Opens `path` for appending. With `resumeAfter`, records of later steps (written by the run being
   * resumed after its last checkpoint) are dropped first, so the log reads like one uninterrupted run.
   */
  constructor(
    readonly path: string,
    opts: { resumeAfter?: number; fresh?: boolean } = {},
  ) {
    mkdirSync(dirname(path), { recursive: true });
    if (opts.fresh || opts.resumeAfter === undefined) {
      writeFileSync(path, '');
      return;
    }
    const keep = readJsonl(path).filter((r) => r.step <= opts.resumeAfter!);
    writeFileSync(path, keep.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
  write(record: LogRecord): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }
}
