// The evaluation as people read it on a terminal: the data, a table of both levels' metrics, the confusion at
// the verdict's thresholds and each file's score.
import type { ClassCounts, Evaluation, LevelMetrics } from "./evaluation.js";

const f3 = (v: number) => v.toFixed(3);

export function dataLine(label: string, c: ClassCounts): string {
  const noFace = c.noFace > 0 ? `, ${c.noFace} without a face (left out)` : "";
  return `${label}: ${c.files} file(s) (${c.images} image(s), ${c.videos} video(s)${noFace}), ${c.faces} face(s) scored`;
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
}

function metricsRow(m: LevelMetrics): string[] {
  return [
    m.level,
    `${m.real}/${m.fake}`,
    `${f3(m.auc)} [${f3(m.aucInterval.low)}, ${f3(m.aucInterval.high)}]`,
    f3(m.eer.eer),
    ...m.tprAtFpr.map((p) => f3(p.tpr)),
  ];
}

function confusionLine(m: LevelMetrics, name: string, c: LevelMetrics["confusion"]["suspicious"]): string {
  return `  ${m.level} level, fake >= ${name} ${f3(c.threshold)}: fakes caught ${c.tp}, missed ${c.fn}; reals flagged ${c.fp}, passed ${c.tn}`;
}

export function evaluationLines(e: Evaluation): string[] {
  const { fileLevel: file, frameLevel: frame } = e;
  const i = file.aucInterval;
  const header = [
    "level",
    "real/fake",
    `AUC [${Math.round(i.level * 100)}% CI]`,
    "EER",
    ...file.tprAtFpr.map((p) => `TPR@${p.maxFpr * 100}%FPR`),
  ];
  const rows = [header, metricsRow(file), metricsRow(frame)];
  const widths = header.map((_, k) => Math.max(...rows.map((r) => r[k]!.length)));
  const lines = [
    `model ${e.model}, ${e.detector ? `detector ${e.detector}` : "no detector (every frame is a face crop)"}`,
    dataLine("real", e.data.real),
    dataLine("fake", e.data.fake),
    "",
    ...rows.map((r) => row(r, widths)),
    `(file level: one score per file, the aggregate its verdict judges; frame level: every scored face. ` +
      `Interval: percentile bootstrap, ${i.resamples} resamples of the files within each class, seed ${i.seed}.)`,
    "",
    "at the verdict's thresholds:",
  ];
  for (const m of [file, frame]) {
    lines.push(confusionLine(m, "suspiciousAt", m.confusion.suspicious), confusionLine(m, "likelyFakeAt", m.confusion.likelyFake));
  }
  lines.push("", "per file (fake score, state, faces):");
  for (const f of e.files) {
    lines.push(`  ${f.label}\t${f.score === null ? "no face" : f3(f.score)}\t${f.state}\t${f.faces.length}\t${f.file}`);
  }
  return lines;
}
