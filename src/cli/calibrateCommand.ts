// `mesoguard calibrate --real DIR --fake DIR --target-fpr F --out DIR`: verdict thresholds from the user's own
// real files, written as a config file `serve --config` and `scan --config` load, with a model card.
import { parseArgs } from "node:util";

import { loadScoringConfigFile } from "../config/serverConfig.js";
import { calibrateThresholds, calibratedConfigJson, checkTargetFpr, MAX_TARGET_FPR, SUSPICIOUS_FPR_FACTOR } from "../evaluate/calibration.js";
import { evaluationLines } from "../evaluate/evaluationText.js";
import { modelCardMarkdown } from "../evaluate/modelCard.js";
import { writeFilesAtomically } from "../evaluate/outputFiles.js";
import {
  checkDatasetArgs,
  DATASET_USAGE,
  evaluateDataset,
  evaluationFiles,
  DATASET_OPTIONS,
  rejectPositionals,
  runDatasetCommand,
  UsageError,
} from "./evaluateCommand.js";

export const CALIBRATE_USAGE = `Usage: mesoguard calibrate --real DIR --fake DIR --target-fpr F --out DIR [options]

Scores the data as \`mesoguard evaluate\` does, then chooses the verdict's thresholds from the real files'
file-level scores (the aggregate the verdict judges): likelyFakeAt so that at most F of them reach it,
suspiciousAt the same at ${SUSPICIOUS_FPR_FACTOR} x F (at most ${MAX_TARGET_FPR}), each placed in a gap between the real files' scores (the model
card states the rule in full).
Writes DIR/config.json (the server's config file format: {"model", "verdict": {"suspiciousAt", "likelyFakeAt"}};
for serve --config and scan --config), DIR/MODEL_CARD.md (data, metrics with intervals, operating point, limits,
provenance), and evaluate's DIR/evaluation.json (with the calibration), roc.svg, histogram-*.svg. Nothing is
written when the data is bad.

Options:
${DATASET_USAGE}
  --target-fpr F     the largest fraction of real files flagged likely-fake, in (0, ${MAX_TARGET_FPR}] (e.g. 0.01)
  --out DIR          where the files go (created when missing)
  -h, --help         this text

Exit code: 0 done, 1 bad data (nothing written), 2 bad usage.`;

export async function runCalibrateCommand(argv: string[], out: (line: string) => void, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  return runDatasetCommand("calibrate", CALIBRATE_USAGE, err, async () => {
    const options = { ...DATASET_OPTIONS, "target-fpr": { type: "string" } } as const;
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options });
    rejectPositionals(positionals);
    if (values.help) {
      out(CALIBRATE_USAGE);
      return 0;
    }
    const args = checkDatasetArgs(values);
    if (!values.out) throw new UsageError("--out DIR is required");
    if (values["target-fpr"] === undefined) throw new UsageError("--target-fpr F is required");
    const targetFpr = Number(values["target-fpr"]);
    try {
      checkTargetFpr(targetFpr);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }

    const evaluation = await evaluateDataset(args, err);
    const calibration = calibrateThresholds(evaluation, targetFpr);
    const { suspiciousAt, likelyFakeAt } = calibration.verdict;
    const calibrated = { ...evaluation, thresholds: { ...evaluation.thresholds, suspiciousAt, likelyFakeAt } };
    const json = JSON.stringify({ ...evaluation, calibration });
    const config = calibratedConfigJson(evaluation.model, calibration);
    const files = {
      "config.json": config,
      "MODEL_CARD.md": modelCardMarkdown({ evaluation, calibration, realDir: args.real, fakeDir: args.fake, created: new Date().toISOString() }),
      // The histograms draw the calibrated thresholds; the metrics' confusion stays at the thresholds evaluated.
      ...evaluationFiles(calibrated, json + "\n"),
    };
    await writeFilesAtomically(values.out, files, (staged) => {
      // The server's own loader must take the config as written, thresholds intact.
      const loaded = loadScoringConfigFile(staged["config.json"]!);
      if (loaded.verdict.likelyFakeAt !== calibration.verdict.likelyFakeAt || loaded.verdict.suspiciousAt !== calibration.verdict.suspiciousAt) {
        throw new Error("the config file written does not load back with the calibrated thresholds");
      }
    });
    if (args.json) {
      out(json);
      return 0;
    }
    for (const line of evaluationLines(evaluation)) out(line);
    out("");
    out(`calibrated for a false-positive rate <= ${targetFpr} of real files (file level):`);
    for (const [name, p] of [
      ["likelyFakeAt", calibration.likelyFake],
      ["suspiciousAt", calibration.suspicious],
    ] as const) {
      out(`  ${name} ${p.threshold}: real files flagged ${(p.fpr * 100).toFixed(1)}%, fake files caught ${(p.tpr * 100).toFixed(1)}%`);
    }
    if (calibration.verdict.hysteresis !== undefined) out(`  hysteresis ${calibration.verdict.hysteresis} (the default does not fit below suspiciousAt)`);
    out(`wrote ${values.out}/config.json, MODEL_CARD.md, evaluation.json, roc.svg, histogram-file.svg, histogram-frame.svg`);
    return 0;
  });
}
