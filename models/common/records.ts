/**
 * Tensors <-> safetensors records and RNG states: the in-memory half of a checkpoint, usable
 * anywhere (a browser included). Writing checkpoint directories is checkpoint.ts (Node).
 */
import { Rng, type Tensor, tensor, type Backend, type RngState } from '../../engine/index.js';
import type { Module } from '../../nn/module.js';
import type { StateDict, TensorRecord } from '../../nn/safetensors.js';

/** Tensors -> safetensors records (copies of the data; synchronous: host devices only, see toRecordsAsync). */
export function toRecords(dict: Record<string, Tensor>): StateDict {
  const out: StateDict = {};
  for (const [k, t] of Object.entries(dict))
    out[k] = { dtype: t.dtype, shape: [...t.shape], data: t.dataSync() } as TensorRecord;
  return out;
}

/** Tensors -> safetensors records, read with the async API (`await t.data()`): works on every device, 'webgpu' included. */
export async function toRecordsAsync(dict: Record<string, Tensor>): Promise<StateDict> {
  const entries = Object.entries(dict),
    data = await Promise.all(entries.map(([, t]) => t.data()));
  const out: StateDict = {};
  entries.forEach(([k, t], i) => {
    out[k] = { dtype: t.dtype, shape: [...t.shape], data: data[i] } as TensorRecord;
  });
  return out;
}

/**
 * A module's state dict copied to `device` with asynchronous reads, so it works from every device,
 * 'webgpu' included (where `module.to('cpu')` refuses: it reads synchronously). Load it into a model
 * built on `device` (`loadStateDict`) to get the same model there.
 */
export async function stateDictTo(model: Module, device: Backend | string): Promise<Record<string, Tensor>> {
  const entries = Object.entries(model.stateDict());
  const moved = await Promise.all(entries.map(([, t]) => t.toAsync(device)));
  return Object.fromEntries(entries.map(([k], i) => [k, moved[i]]));
}

/** Safetensors records -> tensors on `device` (default backend when absent). */
export function fromRecords(records: StateDict, device?: Backend): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, r] of Object.entries(records)) out[k] = tensor(r.data, { shape: r.shape, dtype: r.dtype, device });
  return out;
}

/** Every Rng a module tree holds (dropout masks, samplers), by module path; for exact resumption. */
export function moduleRngs(root: Module): Map<string, Rng> {
  const out = new Map<string, Rng>();
  for (const [path, m] of root.namedModules()) {
    const rng = (m as unknown as { rng?: unknown }).rng;
    if (rng instanceof Rng) out.set(path || '<root>', rng);
  }
  return out;
}

/** Applies saved generator states to live ones; throws if a saved name is missing (the model changed). */
export function restoreRngs(live: Map<string, Rng>, saved: Record<string, RngState>): void {
  for (const [name, s] of Object.entries(saved)) {
    const rng = live.get(name);
    if (!rng) throw new Error(`checkpoint has RNG state for '${name}', which this model does not have`);
    rng.setState(s);
  }
}

/** Current states of named generators. */
export function rngStates(live: Map<string, Rng>): Record<string, RngState> {
  return Object.fromEntries([...live].map(([k, r]) => [k, r.getState()]));
}
