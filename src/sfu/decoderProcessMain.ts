// The decoder process: every RTP stream's video decoder (the addon's VideoDecoder, libavcodec) in a child of the
// server (src/sfu/DecoderProcess.ts forks this script), so a crash in libavcodec ends this process and not the
// server's calls. Requests and replies (src/sfu/decoderProcessTypes.ts) go over Node's IPC channel.
// argv: the addon's path, then the test hook's kind and access unit (MESOGUARD_TEST_DECODER_FAULT, first process only).
import type { NativeVideoDecoder } from "../native/addonTypes.js";
import { loadAddon } from "../native/loadAddon.js";
import type { DecoderReply, DecoderRequest } from "./decoderProcessTypes.js";

const [addonPath, faultKind, faultAt] = process.argv.slice(2);
const addon = loadAddon(addonPath);
/** Each stream's decoder, or why it could not be made (its decodes reject with that error). */
const decoders = new Map<number, NativeVideoDecoder | Error>();
let accessUnits = 0;

function reply(message: DecoderReply): void {
  if (process.connected) process.send!(message);
}

/** The test hook: a crash as libavcodec's would end this process, or a process that never answers again. */
function fault(kind: string): never {
  if (kind === "crash") process.kill(process.pid, "SIGSEGV");
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks the only thread that replies
}

function failure(error: unknown): { code: string; message: string } {
  const e = error as NodeJS.ErrnoException;
  return { code: e.code ?? "ERR_VIDEO_DECODE", message: e.message ?? String(error) };
}

function decode(message: Extract<DecoderRequest, { type: "decode" }>): void {
  const { id, request } = message;
  if (faultAt !== undefined && ++accessUnits === Number(faultAt)) fault(faultKind!);
  const decoder = decoders.get(id);
  if (decoder === undefined || decoder instanceof Error) {
    const why = decoder ? failure(decoder) : { code: "ERR_CLOSED", message: "the video decoder is closed" };
    return reply({ type: "failed", id, request, ...why, stats: null });
  }
  decoder.decode(message.data as Uint8Array, message.options as { returnPixels?: boolean }).then(
    (result) => reply({ type: "decoded", id, request, result, stats: decoder.stats() }),
    (error: unknown) => reply({ type: "failed", id, request, ...failure(error), stats: decoder.stats() }),
  );
}

process.on("message", (message: DecoderRequest) => {
  switch (message.type) {
    case "open":
      try {
        decoders.set(message.id, new addon.VideoDecoder(message.options));
      } catch (error) {
        decoders.set(message.id, error as Error);
      }
      return;
    case "decode":
      return decode(message);
    case "reset": {
      const decoder = decoders.get(message.id);
      if (decoder && !(decoder instanceof Error)) decoder.reset();
      return;
    }
    case "close": {
      const decoder = decoders.get(message.id);
      const closed = decoder && !(decoder instanceof Error) ? decoder.close({ drain: message.drain }) : Promise.resolve();
      void closed.finally(() => decoders.delete(message.id));
      return;
    }
  }
});

/** Closes every decoder without draining (their threads are joined), then exits; the server kills it after 2 s. */
function shutDown(): void {
  const closing = [...decoders.values()].map((decoder) => (decoder instanceof Error ? undefined : decoder.close({ drain: false }).catch(() => undefined)));
  void Promise.all(closing).then(() => process.exit(0));
}

// The server ends this process by closing the channel (or by dying); a terminal's Ctrl-C or a service manager's
// SIGTERM to the whole group must not end it before the server has drained. Exiting with no decoder thread still
// running also gives LeakSanitizer's exit check (npm run test:sanitize) a quiet process to stop and scan.
process.on("disconnect", shutDown);
process.on("SIGINT", () => undefined);
process.on("SIGTERM", () => undefined);
reply({ type: "ready" });
