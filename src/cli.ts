#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { AppError, describeError } from './core/errors.js';
import type { CliCommand, CommandArgs } from './core/command.js';
import { KIT_COMMANDS } from './cli-kit.js';

/**
 * Every `vht-kit` command. Adding one is one entry here: a CliCommand exported by the module that
 * does the work (its options, usage, help and run). `vht-kit --help` lists them in this order.
 */
const COMMANDS: CliCommand[] = [
  ...KIT_COMMANDS,
  // New commands: one entry each, e.g. trainerCommand, officeCommand (see src/core/command.ts).
];

const FOOTER = `Configuration: the YAML file named by VHT_KIT_CONFIG (see config/example.yaml), then VHT_KIT_*
environment variables (VHT_KIT_DATA_DIR, VHT_KIT_PORT, VHT_KIT_PROFILE, VHT_KIT_PIN, …).
\`vht-kit <command> --help\` says more about one command.
`;

/** Indents every line of a text by `pad`. */
const indent = (text: string, pad: string) =>
  text
    .split('\n')
    .map((l) => (l ? pad + l : l))
    .join('\n');

/** The overview: every command's usage and summary. */
function usage(commands: CliCommand[] = COMMANDS): string {
  const lines = commands.map((c) => `  vht-kit ${c.usage}\n${indent(c.summary, '      ')}`);
  return `vht-kit — the software of a VHT home-visit recording kit\n\nUsage:\n${lines.join('\n')}\n  vht-kit help\n      this text\n\n${FOOTER}`;
}

/** The help of one command name (all its variants). */
function commandHelp(name: string, commands: CliCommand[] = COMMANDS): string {
  const variants = commands.filter((c) => c.name === name);
  return variants.map((c) => `Usage: vht-kit ${c.usage}\n\n${indent(c.summary, '  ')}\n${c.details ? `\n${indent(c.details, '  ')}\n` : ''}`).join('\n');
}

function fail(err: unknown): never {
  const msg = err instanceof AppError ? err.message : describeError(err);
  process.stderr.write(`vht-kit: ${msg}\n`);
  process.exit(err instanceof AppError && err.code === 'CONFIG' ? 2 : 1);
}

function parse(name: string, variants: CliCommand[], args: string[]) {
  const options = Object.assign({ help: { type: 'boolean', short: 'h' } } as const, ...variants.map((c) => c.options)) as NonNullable<
    Parameters<typeof parseArgs>[0]
  >['options'];
  try {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options });
    return { values: values as CommandArgs['values'], positionals };
  } catch (err) {
    throw new AppError('VALIDATION', `${name}: ${describeError(err).split('. ')[0]} (vht-kit ${name} --help lists its options)`, { field: name });
  }
}

async function main(argv: string[]): Promise<void> {
  const name = argv[0] ?? 'help';
  if (name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(argv[1] && COMMANDS.some((c) => c.name === argv[1]) ? commandHelp(argv[1]) : usage());
    return;
  }
  const variants = COMMANDS.filter((c) => c.name === name);
  if (variants.length === 0) {
    process.stderr.write(`vht-kit: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    process.exit(2);
  }
  const { values, positionals } = parse(name, variants, argv.slice(1));
  if (values.help) {
    process.stdout.write(commandHelp(name));
    return;
  }
  const command = variants.find((c) => c.flag !== undefined && values[c.flag] === true) ?? variants.find((c) => c.flag === undefined)!;
  await command.run({ values, positionals });
}

main(process.argv.slice(2)).catch(fail);
