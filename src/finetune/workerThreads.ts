// The worker threads `mesoguard finetune` keeps its pixel work and its training in, off the event loop.
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

import { packageRoot } from "../models/paths.js";
import type { EpochProgress, HeadTrainingInput, HeadTrainingResult } from "./headTraining.js";

/**
 * The compiled script of a worker module beside this one. Under vitest this module runs from src/ as TypeScript,
 * which a worker thread cannot load: it then takes the compiled copy in dist/ (npm test compiles it first).
 */
export function workerScript(name: string): URL {
  if (fileURLToPath(import.meta.url).endsWith(".ts")) {
    return pathToFileURL(path.join(packageRoot(), "dist", "src", "finetune", `${name}.js`));
  }
  return new URL(`./${name}.js`, import.meta.url);
}

type Reply = { id: number; result?: unknown; error?: string };

/** Requests to a long-lived worker, each answered once ({id, result} or {id, error}), in any order. */
export class WorkerClient<Request, Result> {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  #nextId = 0;

  constructor(name: string) {
    this.#worker = new Worker(workerScript(name));
    this.#worker.on("message", (reply: Reply) => {
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.error !== undefined) pending?.reject(new Error(reply.error));
      else pending?.resolve(reply.result as Result);
    });
    this.#worker.on("error", (error) => this.#failAll(error));
    this.#worker.on("exit", (code) => this.#failAll(new Error(`mesoguard: worker ${name} exited (code ${code})`)));
  }

  #failAll(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  /** `transfer`: buffers handed to the worker (unusable here afterwards). */
  call(request: Request, transfer: ArrayBuffer[] = []): Promise<Result> {
    const id = this.#nextId++;
    return new Promise<Result>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, request }, transfer);
    });
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}

/** trainHead() (headTraining.ts, TensorFlow.js) in a worker of its own, `onEpoch` called as epochs finish. */
export function trainHeadInWorker(input: HeadTrainingInput, onEpoch: (p: EpochProgress) => void): Promise<HeadTrainingResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerScript("trainWorker"), { workerData: input });
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      f();
      void worker.terminate();
    };
    worker.on("message", (m: { progress?: EpochProgress; result?: HeadTrainingResult; error?: string }) => {
      if (m.progress) onEpoch(m.progress);
      else if (m.result) settle(() => resolve(m.result!));
      else settle(() => reject(new Error(`training failed: ${m.error}`)));
    });
    worker.on("error", (error) => settle(() => reject(error)));
    worker.on("exit", (code) => settle(() => reject(new Error(`the training worker exited (code ${code})`))));
  });
}
