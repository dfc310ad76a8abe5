// The WebSocket edge: a binary frame message (src/protocol/binaryFrame.ts) as the scorer's input. Everything past
// here (ParticipantSession, the scorer) sees the addon's FrameInput, whatever the frame's source.
import type { WireFrame } from "../protocol/binaryFrame.js";
import type { FrameInput } from "../scoring/scoringTypes.js";

/** The wire frame's image as FrameInput; a stride of 0 on the wire means packed (the addon's default). */
export function toFrameInput(frame: WireFrame): FrameInput {
  const [s0, s1, s2] = frame.strides;
  switch (frame.kind) {
    case "jpeg":
    case "png":
      return { kind: frame.kind, data: frame.payload };
    case "rgb":
    case "rgba":
      return { kind: frame.kind, data: frame.payload, width: frame.width, height: frame.height, stride: s0 || undefined };
    case "i420":
      return {
        kind: "i420",
        data: frame.payload,
        width: frame.width,
        height: frame.height,
        strideY: s0 || undefined,
        strideU: s1 || undefined,
        strideV: s2 || undefined,
      };
    case "nv12":
      return { kind: "nv12", data: frame.payload, width: frame.width, height: frame.height, strideY: s0 || undefined, strideUV: s1 || undefined };
  }
}
