// The model card `mesoguard calibrate` writes beside its config: the model's provenance and licence, the data,
// the metrics with their intervals, the chosen operating point and what the model cannot tell.
import { findModel } from "../models/manifest.js";
import { MODEL_LIMITS } from "../scan/htmlReport.js";
import type { Calibration } from "./calibration.js";
import type { ClassCounts, Evaluation, LevelMetrics } from "./evaluation.js";

const f3 = (v: number) => v.toFixed(3);
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/** The manifest fields a card shows, when the entry has them. */
const PROVENANCE_FIELDS = ["architecture", "trainedOn", "weightsFile", "sourceUrl", "source", "parent", "sha256", "license"] as const;

function provenance(model: string): string[] {
  const lines: string[] = [];
  // An ensemble ("a,b") is described model by model.
  for (const name of model.split(",")) {
    let entry: Record<string, unknown>;
    try {
      entry = findModel(name) as unknown as Record<string, unknown>;
    } catch (error) {
      lines.push(`- \`${name}\`: no manifest entry (${(error as Error).message})`);
      continue;
    }
    lines.push(`- \`${name}\``);
    for (const field of PROVENANCE_FIELDS) {
      const value = entry[field];
      if (typeof value === "string" && value !== "") lines.push(`  - ${field}: ${value}`);
    }
  }
  return lines;
}

function dataRow(label: string, c: ClassCounts): string {
  return `| ${label} | ${c.files} | ${c.images} | ${c.videos} | ${c.noFace} | ${c.faces} |`;
}

function metricsRow(m: LevelMetrics): string {
  const tprs = m.tprAtFpr.map((p) => f3(p.tpr)).join(" | ");
  return `| ${m.level} | ${m.real} / ${m.fake} | ${f3(m.auc)} [${f3(m.aucInterval.low)}, ${f3(m.aucInterval.high)}] | ${f3(m.eer.eer)} | ${tprs} |`;
}

export interface ModelCardInput {
  evaluation: Evaluation;
  calibration: Calibration;
  realDir: string;
  fakeDir: string;
  /** When the card was made (ISO time). */
  created: string;
}

export function modelCardMarkdown({ evaluation: e, calibration: c, realDir, fakeDir, created }: ModelCardInput): string {
  const i = e.fileLevel.aucInterval;
  const realFiles = e.fileLevel.real;
  const op = (name: string, p: Calibration["likelyFake"], target: number) =>
    `- \`${name}\` = ${p.threshold}: on this data ${pct(p.fpr)} of real files score at or above it (target <= ${pct(target)}), ` +
    `${pct(p.tpr)} of fake files do.`;
  const lines = [
    `# Model card: ${e.model}, calibrated`,
    "",
    `Made by \`mesoguard calibrate\` on ${created} from real files in \`${realDir}\` and fake files in \`${fakeDir}\` ` +
      `(labels come from the folders). Faces: ${e.detector ? `detected with ${e.detector}, tracked per file` : "none detected, every frame is taken as a face crop (--no-detect)"}; ` +
      "videos sampled as `mesoguard scan` samples them.",
    "",
    "## Model",
    "",
    ...provenance(e.model),
    "",
    "## Data",
    "",
    "| class | files | images | videos | without a face (left out) | faces scored |",
    "|---|---|---|---|---|---|",
    dataRow("real", e.data.real),
    dataRow("fake", e.data.fake),
    "",
    "## Metrics",
    "",
    `| level | real / fake | AUC [${Math.round(i.level * 100)}% CI] | EER | ${e.fileLevel.tprAtFpr.map((p) => `TPR at FPR ${pct(p.maxFpr)}`).join(" | ")} |`,
    `|---|---|---|---|${e.fileLevel.tprAtFpr.map(() => "---").join("|")}|`,
    metricsRow(e.fileLevel),
    metricsRow(e.frameLevel),
    "",
    "File level: one score per file, the aggregate fake score its verdict judges (its most suspicious face track). " +
      "Frame level: every scored face, labelled by its file. " +
      `Intervals: percentile bootstrap, ${i.resamples} resamples of the files within each class (seed ${i.seed}), ` +
      "so a file's faces move together.",
    "",
    "## Operating point",
    "",
    `Chosen for a false-positive rate of at most ${pct(c.targetFpr)} of real files (file level):`,
    "",
    op("likelyFakeAt", c.likelyFake, c.targetFpr),
    op("suspiciousAt", c.suspicious, c.suspiciousTargetFpr),
    ...(c.verdict.hysteresis === undefined ? [] : [`- \`hysteresis\` = ${c.verdict.hysteresis} (half of suspiciousAt: the default would not fit below it).`]),
    "",
    `Rule: ${c.rule}.`,
    "",
    `With ${realFiles} real files the smallest false-positive rate this data can show above 0 is ${pct(1 / realFiles)}` +
      (c.likelyFake.fpr === 0
        ? `; none flagged here only bounds the true rate below about ${pct(Math.min(1, 3 / realFiles))} (95%, rule of three). `
        : ". ") +
      "The rates hold for data like this (same sources, compression, framing); calibrate again when that changes.",
    ...(e.data.real.images + e.data.fake.images > 0
      ? [
          "",
          "An image is one frame: its score here is its most suspicious face's P(fake), and `scan` gives it no verdict " +
            `(a verdict needs a face track of \`minScoredFaces\` frames, ${e.thresholds.minScoredFaces} here); the thresholds act on videos and live calls.`,
        ]
      : []),
    "",
    "`config.json` holds these thresholds in the server's config file format: `mesoguard serve --config config.json`, " +
      "`mesoguard scan --config config.json`.",
    "",
    "## Known limits",
    "",
    ...MODEL_LIMITS.map((l) => `- ${l}`),
    "",
  ];
  return lines.join("\n");
}
