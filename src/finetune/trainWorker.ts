// Worker thread: one trainHead() run (workerData: its input), posting {progress} per epoch, then {result} or {error}.
import { parentPort, workerData } from "node:worker_threads";

import { trainHead, type HeadTrainingInput } from "./headTraining.js";

trainHead(workerData as HeadTrainingInput, (progress) => parentPort!.postMessage({ progress })).then(
  (result) => parentPort!.postMessage({ result }),
  (error: unknown) => parentPort!.postMessage({ error: error instanceof Error ? error.message : String(error) }),
);
