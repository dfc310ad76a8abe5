// `npm ci` runs this after compiling the TypeScript: system packages -> native addon -> web pages -> models.
//   node dist/src/install/main.js [--native-only] [--gyp]
// Environment: MESOGUARD_SKIP_APT=1 (never run apt-get), MESOGUARD_BUILD=node-gyp (CPU-only build),
// MESOGUARD_WEIGHTS_DIR (where the MesoNet .h5 weights are).
import { buildInt8Models, buildModels } from "../../models/build.js";
import { buildDetectorModels } from "../../models/detectorLayout.js";
import { buildNative, type BuildSystem } from "./buildNative.js";
import { buildWeb } from "./buildWeb.js";
import { ensureSystemPackages, nvccVersion } from "./systemPackages.js";

const log = (line: string) => console.log(line);

async function main(argv: string[]): Promise<void> {
  const nativeOnly = argv.includes("--native-only");
  const system: BuildSystem = argv.includes("--gyp") || process.env.MESOGUARD_BUILD === "node-gyp" ? "node-gyp" : "cmake-js";
  ensureSystemPackages(log);
  if (system === "cmake-js") {
    const nvcc = nvccVersion();
    log(nvcc ? `mesoguard: nvcc found (${nvcc}): CUDA kernels will be built` : "mesoguard: no nvcc: CPU-only build");
  }
  buildNative(system, log);
  if (nativeOnly) return;
  await buildWeb({ log });
  try {
    await buildDetectorModels({ log });
  } catch (error) {
    console.warn(`\nmesoguard: WARNING: the face detector was not built: ${error instanceof Error ? error.message : String(error)}\n` +
      "Detection with blazeface-back needs it: fix the above, then run `npm run models`.\n");
  }
  try {
    await buildModels({ log });
  } catch (error) {
    // The addon is usable without them (own .onnx files); say clearly what is missing and how to fix it.
    const message = error instanceof Error ? error.message : String(error);
    console.warn(`\nmesoguard: WARNING: the MesoNet models were not built:\n${message}\n` +
      "Scoring needs them: fix the above, then run `npm run models`.\n");
    return;
  }
  try {
    await buildInt8Models({ log });
  } catch (error) {
    // Optional variants: nothing official depends on them.
    console.warn(`mesoguard: WARNING: the int8 variants were not built: ${error instanceof Error ? error.message : String(error)}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
