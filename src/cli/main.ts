#!/usr/bin/env node
// mesoguard's command line: one subcommand per module.
import { runScoreCommand } from "./scoreCommand.js";

const USAGE = `Usage: mesoguard <command> [options]

Commands:
  score FILE...     score images with MesoNet (mesoguard score --help)

Set-up: npm ci (builds the addon and the models); tests: npm test.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "score":
      return runScoreCommand(rest, (line) => process.stdout.write(line + "\n"));
    case undefined:
    case "-h":
    case "--help":
    case "help":
      process.stdout.write(USAGE + "\n");
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`mesoguard: unknown command '${command}'\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`mesoguard: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
