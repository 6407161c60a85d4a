/**
 * Every `vlgrad` command, in the order `vlgrad --help` lists them: ALBEF's (train, eval, ground,
 * vqa) and VLMo's (train, eval, vqa, count). A model adds its commands by appending them here;
 * `runCli` refuses a verb and model registered twice.
 */
import { albefCommands } from '../models/albef/cli.js';
import type { Command } from '../models/common/cli.js';
import { vlmoCommands } from '../models/vlmo/cli.js';

export const COMMANDS: readonly Command[] = [...albefCommands, ...vlmoCommands];
