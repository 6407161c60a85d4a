/**
 * Training infrastructure shared by ALBEF and VLMo that runs anywhere (a browser included):
 * shared objectives, parameter counting, the step loop, tensor <-> record conversion, retrieval
 * metrics, galleries and loss plots. The file-backed parts (checkpoint directories, JSONL logs,
 * the CLI and VQA fine-tuning commands) are in `vlgrad/node`.
 */
export * from './count.js';
export * from './objectives.js';
export * from './plot.js';
export * from './progress.js';
export * from './records.js';
export * from './retrieval.js';
export * from './trainer.js';
export * from './gallery.js';
export type { LogRecord } from './jsonl.js';
