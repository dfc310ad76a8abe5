// Who may use the operator endpoints (the RTP control API, the details of /healthz). They have a key of their own
// (rtpApiKey), never the join-token secret: whoever holds that secret can mint any token.
//   - a key is set: `Authorization: Bearer <key>` is required;
//   - no key, development mode (no secret): open, like joins;
//   - no key, but a secret: closed (the safe default: a production server does not open its control API by
//     forgetting a setting).
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export type ApiKeyMode = "key" | "open" | "closed";

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

export class ApiKeyGuard {
  readonly mode: ApiKeyMode;
  readonly #key: string | undefined;

  constructor(key: string | undefined, devMode: boolean) {
    this.#key = key;
    this.mode = key ? "key" : devMode ? "open" : "closed";
  }

  /** Whether `req` may use the operator endpoints. */
  allows(req: IncomingMessage): boolean {
    if (this.mode !== "key") return this.mode === "open";
    const match = /^Bearer\s+(.+)$/i.exec((req.headers.authorization ?? "").trim());
    // Hashes have one length, so the comparison takes the same time whatever was sent.
    return match !== null && timingSafeEqual(digest(match[1]!), digest(this.#key!));
  }

  /** What an operator must send, for error messages and /healthz. */
  describe(): string {
    if (this.mode === "key") return "Authorization: Bearer <rtpApiKey>";
    if (this.mode === "open") return "open (development mode)";
    return "closed: the server has a secret but no rtpApiKey (MESOGUARD_RTP_API_KEY)";
  }
}
