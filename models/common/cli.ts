/**
 * The `vlgrad` command line: `vlgrad <verb> <model> [--flags]`. Each model contributes commands
 * (ALBEF: train, eval, ground; VLMo adds its own); bin/vlgrad.ts lists them. Flags are typed by the
 * command's defaults, so `--steps 300 --resume --lr 3e-4` parse without a flags library.
 */

/** A flag's default value decides its type; `undefined` defaults are strings. */
export type FlagValue = string | number | boolean | undefined;

export interface Command {
  verb: string;
  model: string;
  summary: string;
  /** Defaults of every flag (camelCase keys, written --kebab-case on the command line). */
  flags: Record<string, FlagValue>;
  /** One line per flag, for --help. */
  help: Record<string, string>;
  run(flags: Record<string, FlagValue>): Promise<void>;
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Parses `--name value`, `--name=value`, `--flag` / `--no-flag` against the defaults' types. */
export function parseFlags(argv: readonly string[], defaults: Record<string, FlagValue>): Record<string, FlagValue> {
  const out: Record<string, FlagValue> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}' (flags look like --steps 300)`);
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let key = camel(name);
    if (!(key in defaults) && key.startsWith('no') && typeof defaults[camel(name.slice(3))] === 'boolean') { key = camel(name.slice(3)); value = 'false'; }
    if (!(key in defaults)) throw new Error(`unknown flag --${name}; known: ${Object.keys(defaults).map((k) => `--${kebab(k)}`).join(' ')}`);
    const def = defaults[key];
    if (typeof def === 'boolean') {
      if (value === undefined && argv[i + 1] !== undefined && /^(true|false)$/.test(argv[i + 1])) value = argv[++i];
      out[key] = value === undefined ? true : value === 'true';
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`flag --${name} needs a value`);
      value = argv[++i];
    }
    if (typeof def === 'number') {
      const x = Number(value);
      if (value.trim() === '' || !Number.isFinite(x)) throw new Error(`flag --${name} expects a number, got '${value}'`);
      out[key] = x;
    } else out[key] = value;
  }
  return out;
}

function usage(commands: readonly Command[]): string {
  return ['usage: vlgrad <command> <model> [--flags]   (vlgrad <command> <model> --help for flags)', '',
    ...commands.map((c) => `  ${`${c.verb} ${c.model}`.padEnd(16)} ${c.summary}`)].join('\n');
}

function commandHelp(c: Command): string {
  return [`vlgrad ${c.verb} ${c.model}: ${c.summary}`, '',
    ...Object.entries(c.flags).map(([k, v]) => `  --${kebab(k).padEnd(20)} ${c.help[k] ?? ''}${v === undefined || v === '' ? '' : ` (default ${v})`}`)].join('\n');
}

/** Runs the command named by argv; returns the exit code. Errors print one clear line. */
export async function runCli(argv: readonly string[], commands: readonly Command[], out = process.stdout, err = process.stderr): Promise<number> {
  const [verb, model, ...rest] = argv;
  if (!verb || verb === '--help' || verb === 'help') { out.write(`${usage(commands)}\n`); return verb ? 0 : 1; }
  const cmd = commands.find((c) => c.verb === verb && c.model === model);
  if (!cmd) { err.write(`vlgrad: unknown command '${[verb, model].filter(Boolean).join(' ')}'\n${usage(commands)}\n`); return 1; }
  if (rest.includes('--help')) { out.write(`${commandHelp(cmd)}\n`); return 0; }
  try {
    await cmd.run(parseFlags(rest, cmd.flags));
    return 0;
  } catch (e) {
    err.write(`vlgrad ${verb} ${model}: ${(e as Error).message}\n`);
    if (process.env.VLGRAD_DEBUG) err.write(`${(e as Error).stack}\n`);
    return 1;
  }
}
