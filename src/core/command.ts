import type { ParseArgsConfig } from 'node:util';

/** What a command gets from the command line: its options' values and the words after its name. */
export interface CommandArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * One `vht-kit <name>` command, an entry of the table in src/cli.ts. A module that brings a
 * command exports one of these; the CLI parses its options, prints its help and runs it.
 */
export interface CliCommand {
  /** The word after `vht-kit`. */
  name: string;
  /** A command whose `flag` is given runs instead of the plain entry of the same name (`doctor --capture-test`). */
  flag?: string;
  /** The synopsis after `vht-kit` (options and words), for both help texts. */
  usage: string;
  /** What it does, one or two short lines, for `vht-kit --help`. */
  summary: string;
  /** More detail for `vht-kit <name> --help` (each option, examples); optional. */
  details?: string;
  /** Its options (parseArgs syntax); `--help` is added to every command. */
  options: NonNullable<ParseArgsConfig['options']>;
  /** Runs it; throw an AppError for bad input (the CLI prints it and exits non-zero). */
  run(args: CommandArgs): Promise<void>;
}
