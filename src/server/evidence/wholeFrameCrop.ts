// A frame that already is a face crop (a face-crop participant's frame, or a kept snapshot JPEG) rendered as the
// 256x256 RGB crop the addon makes, without any pixel work in JavaScript: analyze() with the detector off and one
// face whose keypoints place the MesoNet crop (side = max(eye distance, eyes-to-mouth) x factor x margin around
// the nose tip, upright) exactly over the frame's centred square.
import { frameSize } from "../../faces/frameSize.js";
import type { Detection } from "../../faces/faceTypes.js";
import type { MesoNetScorer } from "../../scoring/MesoNetScorer.js";
import type { FrameInput } from "../../scoring/scoringTypes.js";

/** The synthetic face whose MesoNet crop is the centred square of a width x height frame. */
export function wholeFrameFace(width: number, height: number, crop: { factor: number; margin: number }): Detection {
  const side = Math.min(width, height);
  const d = side / (crop.factor * crop.margin); // eye distance = eyes-to-mouth = d
  const cx = width / 2, cy = height / 2;
  return {
    box: [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2],
    score: 1,
    keypoints: {
      rightEye: { x: cx - d / 2, y: cy - d / 2 },
      leftEye: { x: cx + d / 2, y: cy - d / 2 },
      noseTip: { x: cx, y: cy },
      mouth: { x: cx, y: cy + d / 2 },
      rightEar: { x: cx - d, y: cy - d / 2 },
      leftEar: { x: cx + d, y: cy - d / 2 },
    },
  };
}

/** The frame's 256x256 RGB face crop and the model's fake score of it (one inference in the scorer's queue). */
export async function renderWholeFrameCrop(scorer: MesoNetScorer, input: FrameInput): Promise<{ rgb: Buffer; fake: number }> {
  const size = frameSize(input);
  if (!size) throw Object.assign(new Error("mesoguard: the frame has no readable size"), { code: "ERR_INVALID_INPUT" });
  const face = wholeFrameFace(size.width, size.height, scorer.info().crop);
  const result = await scorer.analyze(input, { detect: false, faces: [face], returnCrops: true });
  const rendered = result.faces[0];
  if (!rendered?.crop.rgb) throw new Error("mesoguard: the addon returned no crop");
  return { rgb: rendered.crop.rgb, fake: rendered.fake };
}
