// `mesoguard score [--model NAME] [--no-detect] [--json] [--save-crops DIR] FILE...`
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";

import { DEFAULT_MODEL, modelNames } from "../models/manifest.js";
import { DEFAULT_DETECTOR, detectorNames, type DetectorName } from "../faces/detectorModels.js";
import type { FaceKeypoints } from "../faces/faceTypes.js";
import { loadAddon } from "../native/loadAddon.js";
import type { FrameInput, ProviderRequest, ResizeMode } from "../native/addonTypes.js";
import { MesoNetScorer } from "../scoring/MesoNetScorer.js";

export const SCORE_USAGE = `Usage: mesoguard score [options] FILE...

Finds the faces in JPEG/PNG images and scores each with MesoNet. One line per file.

Options:
  --model NAME       ${modelNames().join(", ")} (default ${DEFAULT_MODEL});
                     a,b: every model scores each face, fake is their mean ("models" in JSON)
  --detector NAME    ${detectorNames().join(", ")} (default ${DEFAULT_DETECTOR}; front is for close-up faces)
  --no-detect        take each image as a face crop (no detector)
  --max-faces N      score at most N faces per image, the detector's most confident (1-256, default 16);
                     when it cuts faces the line says so ("facesCut" in JSON)
  --save-crops DIR   write each face's crop (256x256 for MesoNet), as the model saw it, to DIR/<n>-<file>.face<id>.jpg
                     (n: the file's place among the arguments, so a/x.jpg and b/x.jpg do not collide)
  --json             one JSON object per line
  --provider P       auto (default), tensorrt, cuda or cpu
  --resize MODE      --no-detect resize: nearest (default, as Keras), bilinear or area
  -h, --help         this text

real is MesoNet's output P(REAL); fake = 1 - real. With detection each face gets
{id, box: [x1,y1,x2,y2], keypoints, detectorScore, real, fake}; an image without faces has "faces": [].`;

interface FaceLine {
  id: number;
  box: [number, number, number, number];
  keypoints: FaceKeypoints;
  detectorScore: number;
  real: number;
  fake: number;
  /** With several models: each model's fake score. */
  models?: Record<string, number>;
  crop?: string;
}

export interface ScoreLine {
  file: string;
  model: string;
  real?: number;
  fake?: number;
  models?: Record<string, number>;
  detector?: DetectorName;
  width?: number;
  height?: number;
  faces?: FaceLine[];
  /** Faces found beyond --max-faces (not scored); present only when some were cut. */
  facesCut?: number;
  error?: string;
  code?: string;
}

interface ScoreCommandOptions {
  detect: boolean;
  saveCrops?: string;
}

export async function runScoreCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: "string", default: DEFAULT_MODEL },
      detector: { type: "string", default: DEFAULT_DETECTOR },
      "no-detect": { type: "boolean", default: false },
      "save-crops": { type: "string" },
      "max-faces": { type: "string" },
      json: { type: "boolean", default: false },
      provider: { type: "string", default: "auto" },
      resize: { type: "string", default: "nearest" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    out(SCORE_USAGE);
    return 0;
  }
  if (positionals.length === 0) {
    process.stderr.write(`mesoguard score: no files given\n\n${SCORE_USAGE}\n`);
    return 2;
  }
  const detect = !values["no-detect"];
  if (values["save-crops"] && !detect) {
    process.stderr.write("mesoguard score: --save-crops needs face detection (drop --no-detect)\n");
    return 2;
  }
  const maxFaces = values["max-faces"] === undefined ? undefined : Number(values["max-faces"]);
  if (maxFaces !== undefined && !(Number.isInteger(maxFaces) && maxFaces >= 1 && maxFaces <= 256)) {
    process.stderr.write(`mesoguard score: --max-faces must be an integer 1-256, got ${values["max-faces"]}\n`);
    return 2;
  }
  const scorer = await MesoNetScorer.create({
    model: values.model,
    provider: values.provider as ProviderRequest,
    resize: values.resize as ResizeMode,
    detector: detect ? (values.detector as DetectorName) : false,
    maxFaces,
  });
  const options: ScoreCommandOptions = { detect, saveCrops: values["save-crops"] };
  if (options.saveCrops) await mkdir(options.saveCrops, { recursive: true });
  let failures = 0;
  try {
    // All files go to the queue at once so they are batched; lines still come out in argument order.
    const lines = await Promise.all(positionals.map((file, i) => scoreFile(scorer, file, i + 1, options)));
    for (const line of lines) {
      if (line.error) failures++;
      out(values.json ? JSON.stringify(line) : formatLine(line));
    }
  } finally {
    await scorer.close();
  }
  return failures === 0 ? 0 : 1;
}

function frameOf(file: string, data: Buffer): FrameInput {
  return { kind: /\.png$/i.test(file) ? "png" : "jpeg", data };
}

/** `position`: the file's 1-based place among the arguments; it makes crop names unique. */
async function scoreFile(scorer: MesoNetScorer, file: string, position: number, options: ScoreCommandOptions): Promise<ScoreLine> {
  const model = scorer.model.name;
  try {
    const frame = frameOf(file, await readFile(file));
    if (!options.detect) {
      const score = await scorer.score(frame);
      return { file, model, real: score.real, fake: score.fake, ...(score.models && { models: score.models }) };
    }
    const analysis = await scorer.analyze(frame, { returnCrops: Boolean(options.saveCrops) });
    const faces: FaceLine[] = [];
    for (const [i, face] of analysis.faces.entries()) {
      const line: FaceLine = {
        id: i + 1,
        box: face.box,
        keypoints: face.keypoints,
        detectorScore: face.score,
        real: face.real,
        fake: face.fake,
        ...(face.models && { models: face.models }),
      };
      if (options.saveCrops && face.crop.rgb) {
        // The crop is at the (first) model's input size: [N, 3, H, W].
        const [, , height, width] = scorer.info().input.shape;
        line.crop = path.join(options.saveCrops, `${position}-${path.basename(file)}.face${line.id}.jpg`);
        await writeFile(line.crop, await loadAddon().encodeJpeg(face.crop.rgb, width, height, 92));
      }
      faces.push(line);
    }
    const line: ScoreLine = { file, model, detector: scorer.detectorName!, width: analysis.width, height: analysis.height, faces };
    if (analysis.facesCut > 0) line.facesCut = analysis.facesCut;
    return line;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return { file, model, error: e.message, code: e.code };
  }
}

function verdict(fake: number): string {
  return fake >= 0.5 ? "FAKE" : "real";
}

function formatLine(line: ScoreLine): string {
  if (line.error) return `${line.file}\terror ${line.code ?? ""}: ${line.error}`;
  if (!line.faces) {
    return `${line.file}\t${verdict(line.fake!)}\tfake=${line.fake!.toFixed(4)}\treal=${line.real!.toFixed(4)}\t(${line.model})`;
  }
  if (line.faces.length === 0) return `${line.file}\tno face found\t(${line.model}, ${line.detector})`;
  const lines = line.faces.map((f) => {
    const box = f.box.map((v) => Math.round(v)).join(",");
    return `${line.file}\tface ${f.id} [${box}]\t${verdict(f.fake)}\tfake=${f.fake.toFixed(4)}\tdetector=${f.detectorScore.toFixed(2)}\t(${line.model})`;
  });
  if (line.facesCut) {
    lines.push(`${line.file}\twarning: ${line.facesCut} more face(s) found and not scored (--max-faces ${line.faces.length})`);
  }
  return lines.join("\n");
}
