// Join tokens: base64url(JSON claims) + "." + base64url(HMAC-SHA256(secret, that first part)).
// Claims name the room, the role, the participant id (participants) and the expiry (unix seconds).
import { createHmac, timingSafeEqual } from "node:crypto";

import { ID_RULE, isValidId } from "../protocol/ids.js";
import type { Role } from "../protocol/protocolTypes.js";

export interface TokenClaims {
  room: string;
  role: Role;
  participantId?: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export class TokenError extends Error {
  readonly code = "unauthorized";
}

/** Longest a token may live: one year. A join token is short-lived; an exp beyond this (or 1e309 = Infinity) is refused. */
export const MAX_TOKEN_LIFETIME_SECONDS = 366 * 24 * 3600;

/** Throws unless `exp` is a finite number of seconds at most MAX_TOKEN_LIFETIME_SECONDS after `nowSeconds`. */
function checkExp(exp: unknown, nowSeconds: number): asserts exp is number {
  if (typeof exp !== "number" || !Number.isFinite(exp)) throw new TokenError("token exp must be a finite number of seconds");
  if (exp > nowSeconds + MAX_TOKEN_LIFETIME_SECONDS) {
    throw new TokenError(`token exp is more than ${MAX_TOKEN_LIFETIME_SECONDS} s (a year) ahead`);
  }
}

function sign(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("base64url");
}

export function mintToken(secret: string, claims: TokenClaims, nowSeconds = Date.now() / 1000): string {
  if (!isValidId(claims.room)) throw new TokenError(`room must be ${ID_RULE}`);
  if (claims.role !== "participant" && claims.role !== "observer") throw new TokenError("role must be participant or observer");
  if (claims.role === "participant" && !isValidId(claims.participantId)) {
    throw new TokenError(`a participant token needs a participant id of ${ID_RULE}`);
  }
  checkExp(claims.exp, nowSeconds);
  const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `${body}.${sign(secret, body)}`;
}

/** Verifies signature and expiry; returns the claims or throws TokenError saying why not. */
export function verifyToken(secret: string, token: unknown, nowSeconds = Date.now() / 1000): TokenClaims {
  if (typeof token !== "string" || token.length > 2048) throw new TokenError("missing or malformed token");
  const dot = token.indexOf(".");
  if (dot <= 0) throw new TokenError("malformed token");
  const body = token.slice(0, dot);
  // Compare the signature text itself: decoding base64url first would accept other spellings of the same bytes
  // (junk characters are skipped, a last character's unused bits ignored), so a token would not be one string.
  const given = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(sign(secret, body));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenError("bad token signature");
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as TokenClaims;
    if (claims === null || typeof claims !== "object") throw new Error("claims are not an object");
  } catch {
    throw new TokenError("malformed token claims");
  }
  if (!isValidId(claims.room) || (claims.role !== "participant" && claims.role !== "observer")) {
    throw new TokenError("token claims lack a valid room or role");
  }
  if (claims.role === "participant" && !isValidId(claims.participantId)) throw new TokenError("participant token without a valid participant id");
  checkExp(claims.exp, nowSeconds);
  if (claims.exp <= nowSeconds) throw new TokenError("token expired");
  return claims;
}
