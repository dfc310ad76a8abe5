// Seeded draws for everything `mesoguard finetune` draws (split, augmentation, batches, dropout): the same seed gives
// the same draws on every machine, which Math.random() cannot. The generator is the evaluation's bootstrap's.
export { seededRandom } from "../evaluate/metrics.js";

/** An integer in [0, n). */
export function randomInt(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

/** A shuffled copy (Fisher-Yates). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
