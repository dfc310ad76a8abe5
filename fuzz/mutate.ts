// Inputs for the TypeScript targets: a seed from the corpus with a few byte-level mutations (flip, set, cut,
// insert, repeat a slice), or plain random bytes. fast-check draws them from a seed, so a failure replays exactly.
import fc from "fast-check";

interface Mutation {
  op: number;
  at: number;
  value: number;
  length: number;
}

function applyMutation(input: Uint8Array, m: Mutation): Uint8Array {
  const at = input.length === 0 ? 0 : m.at % (input.length + 1);
  switch (m.op) {
    case 0: // flip one bit
      if (at < input.length) input[at] ^= 1 << (m.value & 7);
      return input;
    case 1: // set a byte (boundary values are likelier than others)
      if (at < input.length) input[at] = [0, 0xff, 0x7f, 0x80, m.value][m.value % 5]!;
      return input;
    case 2: // cut at `at`
      return input.subarray(0, at);
    case 3: { // insert `length` bytes of `value`
      const out = new Uint8Array(input.length + m.length);
      out.set(input.subarray(0, at));
      out.fill(m.value, at, at + m.length);
      out.set(input.subarray(at), at + m.length);
      return out;
    }
    default: { // repeat the slice [at, at + length)
      const slice = input.slice(at, at + m.length);
      const out = new Uint8Array(input.length + slice.length);
      out.set(input.subarray(0, at + slice.length));
      out.set(slice, at + slice.length);
      out.set(input.subarray(at + slice.length), at + 2 * slice.length);
      return out;
    }
  }
}

const mutation = fc.record({
  op: fc.integer({ min: 0, max: 4 }),
  at: fc.nat(),
  value: fc.integer({ min: 0, max: 255 }),
  length: fc.integer({ min: 1, max: 64 }),
});

/** Mutated seeds (most draws) and random byte strings up to `maxRandom` bytes. */
export function mutatedBytes(seeds: Uint8Array[], maxRandom = 256): fc.Arbitrary<Uint8Array> {
  if (seeds.length === 0) throw new Error("fuzz: a target needs at least one seed");
  const mutated = fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 8 }))
    .map(([index, mutations]) => mutations.reduce(applyMutation, Uint8Array.from(seeds[index]!)));
  return fc.oneof({ arbitrary: mutated, weight: 4 }, { arbitrary: fc.uint8Array({ maxLength: maxRandom }), weight: 1 });
}
