// A scanned file's face tracks and verdict, computed with the live server's verdict functions over the whole
// sampled video (the window is the video, not the server's rolling seconds).
import { aggregateScores, nextVerdictState } from "../verdict/RollingVerdict.js";
import { mostSuspiciousTrack } from "../verdict/ParticipantVerdict.js";
import type { VerdictConfig } from "../verdict/verdictTypes.js";
import type { FileVerdict, TimelineFrame, TrackSummary } from "./scanTypes.js";

/** Each face id's scores, in time order, from the file's timeline. */
function scoresById(timeline: readonly TimelineFrame[]): Map<number, Array<{ t: number; fake: number }>> {
  const byId = new Map<number, Array<{ t: number; fake: number }>>();
  for (const frame of timeline) {
    for (const face of frame.faces) {
      let scores = byId.get(face.id);
      if (!scores) byId.set(face.id, (scores = []));
      scores.push({ t: frame.t, fake: face.fake });
    }
  }
  return byId;
}

/** One summary per face track, by id. */
export function summarizeTracks(timeline: readonly TimelineFrame[], config: VerdictConfig): TrackSummary[] {
  const tracks: TrackSummary[] = [];
  for (const [id, scores] of [...scoresById(timeline)].sort(([a], [b]) => a - b)) {
    const agg = aggregateScores(
      scores.map((s) => s.fake),
      config,
    );
    const peak = scores.reduce((best, s) => (s.fake > best.fake ? s : best));
    tracks.push({
      id,
      firstS: scores[0]!.t,
      lastS: scores[scores.length - 1]!.t,
      frames: scores.length,
      mean: agg.windowMean!,
      aggregate: agg.aggregate!,
      aggregateMethod: agg.aggregateMethod!,
      peak: peak.fake,
      peakS: peak.t,
      state: scores.length < config.minScoredFaces ? "gathering" : nextVerdictState("gathering", agg.aggregate!, config),
    });
  }
  return tracks;
}

/** The file's verdict: its most suspicious track with enough scores, judged by the server's thresholds. */
export function fileVerdict(tracks: readonly TrackSummary[], config: VerdictConfig): FileVerdict {
  if (tracks.length === 0) return { state: "no-face", fake: null, aggregateMethod: null, trackId: null };
  const chosen = mostSuspiciousTrack(
    tracks.map((t) => ({ ...t, samples: t.frames })),
    config,
  );
  if (!chosen) return { state: "gathering", fake: null, aggregateMethod: null, trackId: null };
  return { state: chosen.state, fake: chosen.aggregate, aggregateMethod: chosen.aggregateMethod, trackId: chosen.id };
}
