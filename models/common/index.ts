/** Training infrastructure shared by ALBEF and VLMo. */
export * from './checkpoint.js';
export * from './cli.js';
export * from './jsonl.js';
export * from './lr_schedule.js';
export * from './plot.js';
export * from './progress.js';
export * from './retrieval.js';
export * from './trainer.js';
export * from './gallery.js';
export * from './vqa.js';
export * from './facts.js';
