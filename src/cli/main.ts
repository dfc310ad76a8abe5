#!/usr/bin/env node
// mesoguard's command line: one subcommand per module.
import { runCalibrateCommand } from "./calibrateCommand.js";
import { runDoctorCommand } from "./doctorCommand.js";
import { runEvaluateCommand } from "./evaluateCommand.js";
import { runFinetuneCommand } from "./finetuneCommand.js";
import { runModelsCommand } from "./modelsCommand.js";
import { runScanCommand } from "./scanCommand.js";
import { runScoreCommand } from "./scoreCommand.js";
import { runServeCommand } from "./serveCommand.js";
import { runTokenCommand } from "./tokenCommand.js";

const USAGE = `Usage: mesoguard <command> [options]

Commands:
  serve             the live call server (mesoguard serve --help)
  token             mint a join token (mesoguard token --help)
  score FILE...     find and score the faces in images (mesoguard score --help)
  scan PATH...      videos and images: a verdict per file, JSON/CSV/HTML reports (mesoguard scan --help)
  evaluate          AUC, EER, TPR at low FPR on your own real and fake files (mesoguard evaluate --help)
  calibrate         verdict thresholds from your own files: a config file and a model card (mesoguard calibrate --help)
  finetune          train MesoNet's head on your labelled faces (mesoguard finetune --help)
  doctor            what this machine runs on, and why not the GPU (mesoguard doctor --help)
  models            list, add and check models, your own ONNX classifiers too (mesoguard models --help)

Set-up: npm ci (builds the addon and the models); tests: npm test.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "score":
      return runScoreCommand(rest, (line) => process.stdout.write(line + "\n"));
    case "scan":
      return runScanCommand(rest, (line) => process.stdout.write(line + "\n"));
    case "evaluate":
      return runEvaluateCommand(rest, (line) => process.stdout.write(line + "\n"));
    case "calibrate":
      return runCalibrateCommand(rest, (line) => process.stdout.write(line + "\n"));
    case "serve":
      return runServeCommand(rest);
    case "token":
      return runTokenCommand(rest, (line) => process.stdout.write(line + "\n"));
    case "finetune":
      return runFinetuneCommand(rest, (line) => process.stdout.write(line + "\n"));
    case "doctor":
      return runDoctorCommand(rest, (line) => process.stdout.write(line + "\n"));
    case "models":
      return runModelsCommand(rest, (line) => process.stdout.write(line + "\n"));
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
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${message.startsWith("mesoguard") ? message : `mesoguard: ${message}`}\n`);
    process.exitCode = 1;
  },
);
