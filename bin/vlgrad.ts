#!/usr/bin/env node
/**
 * The vlgrad command line: `vlgrad train albef`, `vlgrad eval albef`, `vlgrad ground albef`.
 * A model adds its commands by appending them to COMMANDS.
 */
import { albefCommands } from '../models/albef/cli.js';
import { runCli, type Command } from '../models/common/cli.js';

const COMMANDS: Command[] = [...albefCommands];

process.exitCode = await runCli(process.argv.slice(2), COMMANDS);
