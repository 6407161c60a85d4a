/**
 * The `vlgrad` command line: `vlgrad <verb> <model> [--flags]`. Each model contributes commands
 * (ALBEF: train, eval, ground; VLMo adds its own); bin/commands.ts lists them. Every flag has a typed
 * spec (`flag.int(900, 'optimizer steps', { min: 1 })`, `flag.choice(...)`, ...) that parses and
 * validates its value before the command runs, and types the values the command receives; a plain
 * default (`steps: 300`) is also accepted and typed by its value.
 */
import { TrainingInterrupted } from './trainer.js';

/** The values flags take. */
export type FlagValue = string | number | boolean | undefined;

/** A typed flag: its default, help line and the values it accepts. */
export interface FlagSpec<T extends FlagValue = FlagValue> {
  readonly kind: 'integer' | 'number' | 'string' | 'boolean' | 'choice';
  readonly default: T;
  readonly help: string;
  /** Inclusive bounds of integer and number flags; `above` is an exclusive lower bound. */
  readonly min?: number;
  readonly max?: number;
  readonly above?: number;
  /** The accepted values of a choice flag, each with a note shown in help and errors. */
  readonly choices?: Readonly<Record<string, string>>;
  /** Values a choice flag refuses with a reason (e.g. configs this command cannot train). */
  readonly refused?: Readonly<Record<string, string>>;
}

/** Flags of a command: typed specs, or plain defaults (typed by their value, checked as finite numbers). */
export type FlagSchema = Record<string, FlagSpec | FlagValue>;

/** The values a command receives for a schema. */
export type FlagValues<S> = {
  [K in keyof S]: S[K] extends FlagSpec<infer T>
    ? T
    : S[K] extends number
      ? number
      : S[K] extends boolean
        ? boolean
        : string;
};

interface Range {
  min?: number;
  max?: number;
  above?: number;
}

/** Typed flag specs. */
export const flag = {
  int: (def: number, help: string, r: Range = {}): FlagSpec<number> => ({ kind: 'integer', default: def, help, ...r }),
  num: (def: number, help: string, r: Range = {}): FlagSpec<number> => ({ kind: 'number', default: def, help, ...r }),
  str: (def: string, help: string): FlagSpec<string> => ({ kind: 'string', default: def, help }),
  bool: (def: boolean, help: string): FlagSpec<boolean> => ({ kind: 'boolean', default: def, help }),
  /** One of `choices` (a list, or a map from value to a note). */
  choice: (
    def: string,
    help: string,
    choices: readonly string[] | Readonly<Record<string, string>>,
    refused?: Readonly<Record<string, string>>,
  ): FlagSpec<string> => ({
    kind: 'choice',
    default: def,
    help,
    choices: Array.isArray(choices)
      ? Object.fromEntries(choices.map((c) => [c, '']))
      : (choices as Record<string, string>),
    refused,
  }),
};

/** What a command's run gets besides its flag values. */
export interface RunContext {
  /** The flags given on the command line (camelCase), as opposed to defaults. */
  given: ReadonlySet<string>;
}

export interface Command<S extends FlagSchema = FlagSchema> {
  verb: string;
  model: string;
  summary: string;
  /** Every flag (camelCase keys, written --kebab-case on the command line). */
  flags: S;
  /** Help lines of plain-default flags (typed specs carry their own). */
  help?: Record<string, string>;
  run(flags: FlagValues<S>, ctx: RunContext): Promise<void>;
}

/** Declares a command with its flag values typed by its schema. */
export function command<S extends FlagSchema>(c: Command<S>): Command {
  return c as unknown as Command;
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const camel = (s: string): string => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const isSpec = (v: FlagSpec | FlagValue): v is FlagSpec => typeof v === 'object' && v !== null && 'kind' in v;

/** The spec of a schema entry (plain defaults become untyped specs). */
export function specOf(v: FlagSpec | FlagValue, help = ''): FlagSpec {
  if (isSpec(v)) return v;
  return { kind: typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : 'string', default: v, help };
}

function rangeText(s: FlagSpec): string {
  const what = s.kind === 'integer' ? 'an integer' : 'a number';
  const lo = s.above !== undefined ? `> ${s.above}` : s.min !== undefined ? `>= ${s.min}` : '';
  if (s.min !== undefined && s.max !== undefined) return `${what} in [${s.min}, ${s.max}]`;
  if (s.above !== undefined && s.max !== undefined) return `${what} in (${s.above}, ${s.max}]`;
  return [what, lo, s.max !== undefined ? `<= ${s.max}` : ''].filter(Boolean).join(' ');
}

/** Parses and validates one value; errors read `--name value: expected ...`. */
export function parseValue(name: string, raw: string, s: FlagSpec): FlagValue {
  const bad = (expected: string): Error => new RangeError(`--${name} ${raw}: expected ${expected}`);
  switch (s.kind) {
    case 'boolean':
      if (!/^(true|false)$/.test(raw)) throw bad('true or false');
      return raw === 'true';
    case 'string':
      return raw;
    case 'choice': {
      if (Object.hasOwn(s.choices!, raw)) return raw;
      if (s.refused && Object.hasOwn(s.refused, raw))
        throw new RangeError(
          `--${name} ${raw}: ${s.refused[raw]}; expected one of ${Object.keys(s.choices!).join(', ')}`,
        );
      throw bad(
        `one of:\n${Object.entries(s.choices!)
          .map(([c, note]) => `  ${c}${note ? `: ${note}` : ''}`)
          .join('\n')}`,
      );
    }
    default: {
      const x = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(x)) throw bad(rangeText(s));
      if (s.kind === 'integer' && !Number.isSafeInteger(x)) throw bad(rangeText(s));
      if (
        (s.min !== undefined && x < s.min) ||
        (s.max !== undefined && x > s.max) ||
        (s.above !== undefined && x <= s.above)
      )
        throw bad(rangeText(s));
      return x;
    }
  }
}

/** Parses `--name value`, `--name=value`, `--flag` / `--no-flag`; returns the values and which flags were given. */
export function parseArgs(
  argv: readonly string[],
  schema: FlagSchema,
): { values: Record<string, FlagValue>; given: Set<string> } {
  const specs = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, specOf(v)]));
  const values: Record<string, FlagValue> = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.default])),
    given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}' (flags look like --steps 300)`);
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let key = camel(name);
    if (
      !(key in specs) &&
      name.startsWith('no-') &&
      specs[camel(name.slice(3))]?.kind === 'boolean' &&
      value === undefined
    ) {
      key = camel(name.slice(3));
      value = 'false';
    }
    if (!(key in specs))
      throw new Error(
        `unknown flag --${name}; known: ${Object.keys(specs)
          .map((k) => `--${kebab(k)}`)
          .join(' ')}`,
      );
    const s = specs[key];
    if (s.kind === 'boolean' && value === undefined)
      value = argv[i + 1] !== undefined && /^(true|false)$/.test(argv[i + 1]) ? argv[++i] : 'true';
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`flag --${name} needs a value`);
      value = argv[++i];
    }
    values[key] = parseValue(kebab(key), value, s);
    given.add(key);
  }
  return { values, given };
}

/** `parseArgs`' values alone. */
export function parseFlags(argv: readonly string[], schema: FlagSchema): Record<string, FlagValue> {
  return parseArgs(argv, schema).values;
}

function usage(commands: readonly Command[]): string {
  return [
    'usage: vlgrad <command> <model> [--flags]   (vlgrad <command> <model> --help for flags)',
    '',
    ...commands.map((c) => `  ${`${c.verb} ${c.model}`.padEnd(16)} ${c.summary}`),
  ].join('\n');
}

function commandHelp(c: Command): string {
  const line = ([k, v]: [string, FlagSpec | FlagValue]): string => {
    const s = specOf(v, c.help?.[k]);
    const accepts =
      s.kind === 'integer' || (s.kind === 'number' && isSpec(v) && (s.min ?? s.max ?? s.above) !== undefined)
        ? rangeText(s)
        : s.kind === 'choice'
          ? Object.keys(s.choices!).join(' | ')
          : '';
    const parts = [accepts, s.default === undefined || s.default === '' ? '' : `default ${s.default}`]
      .filter(Boolean)
      .join('; ');
    return `  --${kebab(k).padEnd(20)} ${s.help}${parts ? ` (${parts})` : ''}`;
  };
  return [`vlgrad ${c.verb} ${c.model}: ${c.summary}`, '', ...Object.entries(c.flags).map(line)].join('\n');
}

/** Throws when two commands share a verb and model (the second would never run). */
export function checkCommands(commands: readonly Command[]): void {
  const seen = new Set<string>();
  for (const c of commands) {
    const id = `${c.verb} ${c.model}`;
    if (seen.has(id)) throw new Error(`vlgrad: command '${id}' is registered twice`);
    seen.add(id);
  }
}

/** The command line that continues an interrupted run: the same arguments with --resume (and without --overwrite). */
export function resumeCommandLine(argv: readonly string[]): string {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (/^--(no-)?(overwrite|resume)(=.*)?$/.test(argv[i])) {
      if (/^(true|false)$/.test(argv[i + 1] ?? '')) i++;
      continue;
    }
    args.push(argv[i]);
  }
  return ['vlgrad', ...args, '--resume']
    .map((a) => (/^[\w./=:,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

/** Runs the command named by argv; returns the exit code. Errors print one clear line. */
export async function runCli(
  argv: readonly string[],
  commands: readonly Command[],
  out = process.stdout,
  err = process.stderr,
): Promise<number> {
  checkCommands(commands);
  const [verb, model, ...rest] = argv;
  if (!verb || verb === '--help' || verb === 'help') {
    out.write(`${usage(commands)}\n`);
    return verb ? 0 : 1;
  }
  const cmd = commands.find((c) => c.verb === verb && c.model === model);
  if (!cmd) {
    err.write(`vlgrad: unknown command '${[verb, model].filter(Boolean).join(' ')}'\n${usage(commands)}\n`);
    return 1;
  }
  if (rest.includes('--help')) {
    out.write(`${commandHelp(cmd)}\n`);
    return 0;
  }
  try {
    const { values, given } = parseArgs(rest, cmd.flags);
    await cmd.run(values as never, { given });
    return 0;
  } catch (e) {
    if (e instanceof TrainingInterrupted) {
      err.write(`vlgrad ${verb} ${model}: ${e.message}\ncontinue with: ${resumeCommandLine(argv)}\n`);
      return e.exitCode;
    }
    err.write(`vlgrad ${verb} ${model}: ${(e as Error).message}\n`);
    if (process.env.VLGRAD_DEBUG) err.write(`${(e as Error).stack}\n`);
    return 1;
  }
}
