// The stage goal's measure: mesoguard's analyze() on the 640x480 frame (back detector, meso4-df, detection on every
// frame; its own timings per stage) and the plain-JS baseline on the same frame, on the published graphs and on
// mesoguard's, alternated in blocks of BLOCK_FRAMES frames over the same seconds. Measured apart (the stage table,
// then the baseline's minutes later) the three saw different moments of a shared machine: in one run on the 2-core
// VM mesoguard's back detector took 9.58 ms (median), against 5.28 ms in the run before, while the baseline's
// detector moved less, and the ratio fell to 1.71x. Blocks rather than single frames keep each pipeline's weights
// warm in the caches, as one frame after another does.
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { BaselinePipeline, type BaselineGraphs } from "./baseline.js";
import type { BenchFrame, FrameName } from "./frames.js";
import { nowMs, round, summarize, type Summary } from "./stats.js";

/** Frames each pipeline runs in a row before the next one's turn. */
export const BLOCK_FRAMES = 10;

export interface StageMedians {
  decodeMs: Summary;
  detectMs: Summary;
  cropMs: Summary;
  mesonetMs: Summary;
  /** Frames in which the pipeline found the face (crop and MesoNet are summarised over these). */
  facesFound: number;
}

export interface StageComparisonResult {
  frame: FrameName;
  blockFrames: number;
  /** Rounds of blocks: each pipeline ran blocks x blockFrames frames. */
  blocks: number;
  seconds: number;
  mesoguard: StageMedians;
  baseline: StageMedians;
  baselineOnMesoguardGraphs: StageMedians;
}

interface FrameStages {
  decodeMs: number;
  detectMs: number;
  cropMs: number;
  mesonetMs: number;
  found: boolean;
}

function medians(frames: FrameStages[]): StageMedians {
  const found = frames.filter((f) => f.found);
  return {
    decodeMs: summarize(frames.map((f) => f.decodeMs)),
    detectMs: summarize(frames.map((f) => f.detectMs)),
    cropMs: summarize(found.map((f) => f.cropMs)),
    mesonetMs: summarize(found.map((f) => f.mesonetMs)),
    facesFound: found.length,
  };
}

/** Runs the three pipelines in turns of BLOCK_FRAMES frames on `frame` for at least `seconds`, after a warm-up block each. */
export async function runStageComparison(
  frame: BenchFrame,
  options: { seconds: number; minBlocks: number },
  step: (label: string) => void,
): Promise<StageComparisonResult> {
  step(`stage comparison: mesoguard and the baseline alternated, ${frame.name}`);
  const scorer = await MesoNetScorer.create({ model: "meso4-df", provider: "cpu", detector: "blazeface-back" });
  const baselines = new Map<BaselineGraphs, BaselinePipeline>();
  try {
    for (const graphs of ["published", "mesoguard"] as const) baselines.set(graphs, await BaselinePipeline.create("meso4-df", graphs));
    const input = { kind: "jpeg" as const, data: frame.jpeg };
    const runMesoguard = async (): Promise<FrameStages> => {
      const r = await scorer.analyze(input, { detect: true });
      const t = r.timings;
      return { decodeMs: t.decodeMs, detectMs: t.detectMs, cropMs: t.renderMs, mesonetMs: t.inferenceMs, found: r.faces.length > 0 };
    };
    const runBaseline = (graphs: BaselineGraphs) => async (): Promise<FrameStages> => {
      const s = await baselines.get(graphs)!.process(frame.jpeg);
      return { decodeMs: s.decodeMs, detectMs: s.detectMs, cropMs: s.cropMs, mesonetMs: s.mesonetMs, found: s.fake !== null };
    };
    const pipelines = [
      { run: runMesoguard, frames: [] as FrameStages[] },
      { run: runBaseline("published"), frames: [] as FrameStages[] },
      { run: runBaseline("mesoguard"), frames: [] as FrameStages[] },
    ];
    for (const p of pipelines) for (let i = 0; i < BLOCK_FRAMES; i++) await p.run();
    const start = nowMs();
    let blocks = 0;
    while (blocks < options.minBlocks || nowMs() - start < options.seconds * 1000) {
      for (const p of pipelines) for (let i = 0; i < BLOCK_FRAMES; i++) p.frames.push(await p.run());
      blocks++;
    }
    const [mesoguard, baseline, sameGraphs] = pipelines.map((p) => medians(p.frames)) as [StageMedians, StageMedians, StageMedians];
    return {
      frame: frame.name,
      blockFrames: BLOCK_FRAMES,
      blocks,
      seconds: round((nowMs() - start) / 1000),
      mesoguard,
      baseline,
      baselineOnMesoguardGraphs: sameGraphs,
    };
  } finally {
    await scorer.close();
    for (const b of baselines.values()) await b.close();
  }
}
