// Every WebSocket frame a client sends is masked (RFC 6455), so the server XORs each frame's bytes before reading
// them. ws does that in a JavaScript loop unless the `bufferutil` addon loads: profiled at 9 x 30 fps of 640x480
// JPEG, that loop was 14% of the server's event-loop thread. This checks that ws finds the native one.
import { createRequire } from "node:module";

import { describe, expect, it } from "vitest";

// Resolved from ws's own folder, as ws's require("bufferutil") is.
const requireFromWs = createRequire(createRequire(import.meta.url).resolve("ws"));

describe("ws's masking", () => {
  it("loads bufferutil's native binding where ws looks for it, and it unmasks as RFC 6455 says", () => {
    const bufferUtil = requireFromWs("bufferutil") as { unmask(buffer: Buffer, mask: Buffer): void; mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void };
    // bufferutil falls back to its own JavaScript loop when the binding fails to load: that one is not native.
    expect(String(bufferUtil.unmask)).toContain("[native code]");
    expect(String(bufferUtil.mask)).toContain("[native code]");
    const mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
    const payload = Buffer.from(Array.from({ length: 65_537 }, (_, i) => (i * 131 + 7) & 0xff));
    const expected = Buffer.from(payload.map((byte, i) => byte ^ mask[i & 3]!));
    const masked = Buffer.from(payload);
    bufferUtil.unmask(masked, mask);
    expect(masked.equals(expected)).toBe(true);
  });
});
