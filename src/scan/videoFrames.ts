// The sampled frames of a recorded video, read by the addon's VideoFile (libavformat) one at a time.
import { loadAddon } from "../native/loadAddon.js";
import type { NativeVideoFileFrame, NativeVideoFileInfo } from "../native/addonTypes.js";
import { SCORER_DEFAULTS } from "../scoring/scorerOptions.js";

export interface VideoSampling {
  /** Frames per second of video time to sample. */
  fps: number;
  /** Most frames per video. */
  maxFrames: number;
}

/**
 * Opens `file` and yields its sampled frames in order; only the frame being analysed is in memory. Rejects with
 * the addon's ERR_VIDEO_* errors. The file is closed when the loop ends, however it ends.
 */
export async function openVideoFrames(
  file: string,
  sampling: VideoSampling,
): Promise<{ info: NativeVideoFileInfo; frames: AsyncGenerator<NativeVideoFileFrame> }> {
  // The scorer's default frame-pixel cap: a larger picture could not be scored anyway.
  const video = new (loadAddon().VideoFile)({
    path: file,
    fps: sampling.fps,
    maxFrames: sampling.maxFrames,
    maxFramePixels: SCORER_DEFAULTS.maxFramePixels,
  });
  let info: NativeVideoFileInfo;
  try {
    info = await video.open();
  } catch (error) {
    await video.close();
    throw error;
  }
  async function* frames(): AsyncGenerator<NativeVideoFileFrame> {
    try {
      for (let frame = await video.read(); frame !== null; frame = await video.read()) yield frame;
    } finally {
      await video.close();
    }
  }
  return { info, frames: frames() };
}
