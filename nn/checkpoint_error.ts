/** Longest tensor name or detail quoted in a message: a hostile header must not produce a 100 MB error. */
const MAX_QUOTED = 120;

/** Quotes a name for an error message, shortened if it is long. */
export function quote(s: string): string {
  const short = s.length > MAX_QUOTED ? `${s.slice(0, MAX_QUOTED)}…(${s.length} chars)` : s;
  return JSON.stringify(short);
}

/**
 * Raised for every checkpoint that cannot be read or written: a malformed, truncated or hostile file,
 * an unsupported dtype, or a state dict that cannot be saved.
 *
 * The message reads `file: tensor "name": problem` (the tensor part only when one tensor is at fault);
 * the same parts are on `file`, `tensor` and `problem` for callers that branch on them. Errors from the
 * file system itself (ENOENT, EACCES, ...) are not wrapped, so callers can still test `err.code`.
 */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';

  constructor(
    readonly file: string,
    readonly tensor: string | undefined,
    readonly problem: string,
  ) {
    super(`${file}: ${tensor === undefined ? '' : `tensor ${quote(tensor)}: `}${problem}`);
  }
}
