// BlazeFace keypoints between the addon's flat form (12 numbers) and named points.
import type { FaceKeypoints } from "./faceTypes.js";

const ORDER: readonly (keyof FaceKeypoints)[] = ["rightEye", "leftEye", "noseTip", "mouth", "rightEar", "leftEar"];

export function keypointsFromArray(values: readonly number[]): FaceKeypoints {
  const point = (i: number) => ({ x: values[2 * i]!, y: values[2 * i + 1]! });
  return {
    rightEye: point(0),
    leftEye: point(1),
    noseTip: point(2),
    mouth: point(3),
    rightEar: point(4),
    leftEar: point(5),
  };
}

export function keypointsToArray(keypoints: FaceKeypoints): number[] {
  return ORDER.flatMap((name) => {
    const point = keypoints?.[name];
    if (!point || typeof point.x !== "number" || typeof point.y !== "number") {
      throw Object.assign(new TypeError(`mesoguard: face keypoint ${name} must be {x, y} numbers`), { code: "ERR_INVALID_ARG" });
    }
    return [point.x, point.y];
  });
}
