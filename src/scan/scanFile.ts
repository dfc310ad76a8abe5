// Scans one file: its sampled frames (a video) or itself (an image) through the one scorer, faces tracked by a
// StreamAnalyzer of its own; the result keeps the timeline and, when asked, the most and least suspicious crops.
import { readFile } from "node:fs/promises";

import type { FrameInput } from "../native/addonTypes.js";
import type { MesoNetScorer } from "../scoring/MesoNetScorer.js";
import { StreamAnalyzer } from "../scoring/StreamAnalyzer.js";
import type { VerdictConfig } from "../verdict/verdictTypes.js";
import { fileVerdict, summarizeTracks } from "./fileVerdict.js";
import type { MediaFile } from "./mediaFiles.js";
import type { FileScan, TimelineFace, TimelineFrame } from "./scanTypes.js";
import { occlusionMap } from "./occlusion.js";
import { openVideoFrames, type VideoSampling } from "./videoFrames.js";

/** A face crop as the model saw it (square RGB at its input size, 256x256 for MesoNet), for the report. */
export interface EvidenceCrop {
  t: number;
  id: number;
  fake: number;
  rgb: Buffer;
}

export interface ScannedFile {
  scan: FileScan;
  /** With keepCrops and face detection: the most and least suspicious face crops of the file. */
  mostSuspicious?: EvidenceCrop;
  leastSuspicious?: EvidenceCrop;
}

export interface ScanFileOptions extends VideoSampling {
  verdict: VerdictConfig;
  /** Keep the most and least suspicious crops (face detection only). */
  keepCrops: boolean;
  /** Explain the most suspicious face (occlusion sensitivity; needs keepCrops). */
  explain: boolean;
  /** Called after each analysed frame with the faces scored in it. */
  onFrame?: (faces: number) => void;
}

export function imageFrame(file: string, data: Buffer): FrameInput {
  return { kind: /\.png$/i.test(file) ? "png" : "jpeg", data };
}

export async function scanFile(scorer: MesoNetScorer, media: MediaFile, options: ScanFileOptions): Promise<ScannedFile> {
  const scan: FileScan = {
    file: media.path,
    kind: media.kind,
    model: scorer.model.name,
    detector: scorer.detectorName,
    frames: 0,
    facesScored: 0,
    verdict: { state: "no-face", fake: null, aggregateMethod: null, trackId: null },
    tracks: [],
    timeline: [],
  };
  const result: ScannedFile = { scan };
  // Sampled frames are far apart (0.5 s at 2/s), where a live stream's are 30-200 ms: the detector runs on every
  // one rather than carrying boxes over; the tracker still joins the detections into face tracks.
  const stream = scorer.detectorName ? new StreamAnalyzer(scorer, { detectEvery: 1, returnCrops: options.keepCrops }) : null;

  async function analyze(frame: FrameInput, t: number): Promise<void> {
    let faces: TimelineFace[];
    if (stream) {
      const analysis = await stream.analyze(frame);
      faces = analysis.faces.map((f) => ({ id: f.id, fake: f.fake, box: f.box, ...(f.models && { models: f.models }) }));
      for (const f of analysis.faces) {
        if (!f.crop.rgb) continue;
        const crop = { t, id: f.id, fake: f.fake, rgb: f.crop.rgb };
        if (!result.mostSuspicious || f.fake > result.mostSuspicious.fake) result.mostSuspicious = crop;
        if (!result.leastSuspicious || f.fake < result.leastSuspicious.fake) result.leastSuspicious = crop;
      }
    } else {
      // Crop mode: the frame is the face.
      const score = await scorer.score(frame);
      faces = [{ id: 1, fake: score.fake, ...(score.models && { models: score.models }) }];
    }
    const entry: TimelineFrame = { t, faces };
    scan.timeline.push(entry);
    scan.frames++;
    scan.facesScored += faces.length;
    options.onFrame?.(faces.length);
  }

  try {
    if (media.kind === "image") {
      await analyze(imageFrame(media.path, await readFile(media.path)), 0);
    } else {
      const { info, frames } = await openVideoFrames(media.path, options);
      scan.video = info;
      for await (const frame of frames) await analyze(frame, frame.timeS);
    }
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    scan.error = { code: e.code ?? "ERR_SCAN", message: e.message };
  }
  // A file that failed part-way still reports what was scored before the failure.
  scan.tracks = summarizeTracks(scan.timeline, options.verdict);
  scan.verdict = fileVerdict(scan.tracks, options.verdict);
  const face = result.mostSuspicious;
  if (options.explain && face) {
    const map = await occlusionMap(scorer, face.rgb);
    scan.explanation = { faceId: face.id, t: face.t, ...map };
  }
  return result;
}
