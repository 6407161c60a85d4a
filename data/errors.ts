/** Errors raised by `data/` for bad options or input, with messages that say what to do instead. */

/** A bad dataset, loader, tokenizer or masking option. */
export class DataError extends Error {
  override readonly name = 'DataError';
}

/** Throw a `DataError` unless `ok`. */
export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new DataError(message);
}
