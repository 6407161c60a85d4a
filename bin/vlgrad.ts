#!/usr/bin/env node
/**
 * The vlgrad command line: `vlgrad train albef`, `vlgrad eval albef`, `vlgrad ground albef`,
 * `vlgrad train vlmo`, `vlgrad eval vlmo`, `vlgrad count vlmo`, and `vlgrad vqa albef|vlmo` (the
 * shared VQA head). The commands are listed in bin/commands.ts.
 */
import { runCli } from '../models/common/cli.js';
import { COMMANDS } from './commands.js';

process.exitCode = await runCli(process.argv.slice(2), COMMANDS);
