#!/usr/bin/env node
/**
 * The vlgrad command line: `vlgrad train albef`, `vlgrad eval albef`, `vlgrad ground albef`,
 * `vlgrad train vlmo`, `vlgrad eval vlmo`, `vlgrad count vlmo`, and `vlgrad vqa albef|vlmo` (the
 * shared VQA head). A model adds its commands by appending them to COMMANDS.
 */
import { albefCommands, loadRun as loadAlbefRun } from '../models/albef/cli.js';
import { runCli, type Command } from '../models/common/cli.js';
import { vqaCommand } from '../models/common/vqa.js';
import { vlmoCommands } from '../models/vlmo/cli.js';

/** ALBEF as a VQA backbone: the fusion encoder's [CLS] state (ALBEF has no pooler). */
const albefVqa = vqaCommand('albef', 'runs/albef-tiny', async (run, checkpoint) => {
  const { model, tokenizer, info } = await loadAlbefRun(run, checkpoint);
  const fusedCls = (images: Parameters<typeof model.encodeImage>[0], ids: Parameters<typeof model.encodeText>[0], mask: Parameters<typeof model.encodeText>[1]) =>
    model.fuse(model.encodeText(ids, mask), mask, model.encodeImage(images)).narrow(1, 0, 1).squeeze(1);
  return { fused: { module: model, dim: model.config.text.hidden, textLength: 16, fusedCls }, tokenizer,
    dataset: info.options.dataset, normalize: info.normalize, seed: info.options.seed, name: info.config.name };
});

const COMMANDS: Command[] = [...albefCommands, ...vlmoCommands, albefVqa];

process.exitCode = await runCli(process.argv.slice(2), COMMANDS);
