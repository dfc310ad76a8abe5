// Join tokens: mint/verify, every way a token can be wrong (each a TokenError, code "unauthorized"), and the
// `mesoguard token` command. test/server/auth.test.ts joins a running server with tokens this command prints.
import { createHmac } from "node:crypto";
import { spawnSync } from "node:child_process";

import { describe, expect, it } from "vitest";

import { MAX_TOKEN_LIFETIME_SECONDS, TokenError, mintToken, verifyToken, type TokenClaims } from "../src/auth/tokens.js";
import { isValidId } from "../src/protocol/ids.js";
import { BIN, ROOT, TEST_SECRET, mintWithCli } from "./helpers/server.js";

const SECRET = TEST_SECRET;
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

/** A token over arbitrary claims (valid or not), signed the documented way: base64url(JSON).base64url(HMAC). */
function signRaw(secret: string, claims: unknown): string {
  const body = Buffer.from(typeof claims === "string" ? claims : JSON.stringify(claims)).toString("base64url");
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

function tokenError(fn: () => unknown): TokenError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TokenError);
    expect((error as TokenError).code).toBe("unauthorized");
    return error as TokenError;
  }
  throw new Error("expected a TokenError");
}

describe("mintToken / verifyToken", () => {
  it("round-trips participant and observer claims", () => {
    const participant: TokenClaims = { room: "standup-1", role: "participant", participantId: "alice.b_c~d-1", exp: inAnHour() };
    expect(verifyToken(SECRET, mintToken(SECRET, participant))).toEqual(participant);
    const observer: TokenClaims = { room: "standup-1", role: "observer", exp: inAnHour() };
    expect(verifyToken(SECRET, mintToken(SECRET, observer))).toEqual(observer);
  });

  it("is the documented format: base64url(JSON claims) '.' base64url(HMAC-SHA256)", () => {
    const claims: TokenClaims = { room: "r", role: "observer", exp: inAnHour() };
    const token = mintToken(SECRET, claims);
    const [body, signature, ...rest] = token.split(".");
    expect(rest).toEqual([]);
    expect(JSON.parse(Buffer.from(body, "base64url").toString("utf8"))).toEqual(claims);
    expect(signature).toBe(createHmac("sha256", SECRET).update(body).digest("base64url"));
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it("a tampered body fails the signature check", () => {
    const token = mintToken(SECRET, { room: "r1", role: "participant", participantId: "alice", exp: inAnHour() });
    const [body, signature] = token.split(".");
    // Another room, with the original signature.
    const claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as TokenClaims;
    const forged = Buffer.from(JSON.stringify({ ...claims, room: "r2" })).toString("base64url");
    expect(tokenError(() => verifyToken(SECRET, `${forged}.${signature}`)).message).toMatch(/signature/);
    // One character of the body changed.
    const flipped = (body[5] === "A" ? "B" : "A");
    expect(tokenError(() => verifyToken(SECRET, `${body.slice(0, 5)}${flipped}${body.slice(6)}.${signature}`)).message).toMatch(/signature|malformed/);
  });

  it("a tampered signature is refused: changed, cut, lengthened or with junk added", () => {
    const token = mintToken(SECRET, { room: "r1", role: "observer", exp: inAnHour() });
    const [body, signature] = token.split(".");
    const swap = (c: string) => (c === "A" ? "B" : "A");
    const variants = [
      `${body}.${swap(signature[0])}${signature.slice(1)}`,
      `${body}.${signature.slice(0, 10)}${swap(signature[10])}${signature.slice(11)}`,
      `${body}.${signature.slice(0, -1)}${swap(signature.at(-1)!)}`,
      `${body}.${signature.slice(0, -2)}`,
      `${body}.${signature}AAAA`,
      `${body}.${signature}!`, // not base64url at all
      `${body}.${signature}=`,
      `${body}.${signature.slice(0, 20)}.${signature.slice(20)}`,
      `${body}.`,
    ];
    for (const variant of variants) {
      expect(variant).not.toBe(token);
      tokenError(() => verifyToken(SECRET, variant));
    }
  });

  it("a token signed with another secret is refused", () => {
    const token = mintToken("another-secret-of-16+chars", { room: "r1", role: "observer", exp: inAnHour() });
    expect(tokenError(() => verifyToken(SECRET, token)).message).toMatch(/signature/);
    expect(tokenError(() => verifyToken("", token)).message).toMatch(/signature/);
  });

  it("an expired token is refused (exp is compared with now, in seconds)", () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = mintToken(SECRET, { room: "r1", role: "observer", exp: now - 1 });
    expect(tokenError(() => verifyToken(SECRET, expired)).message).toMatch(/expired/);
    const token = mintToken(SECRET, { room: "r1", role: "observer", exp: 1000 });
    expect(verifyToken(SECRET, token, 999.5).exp).toBe(1000);
    expect(tokenError(() => verifyToken(SECRET, token, 1000)).message).toMatch(/expired/);
    // exp not a number (signed, so only the claim check can catch it).
    expect(tokenError(() => verifyToken(SECRET, signRaw(SECRET, { room: "r1", role: "observer", exp: "9999999999" }))).message).toMatch(/finite/);
    expect(tokenError(() => verifyToken(SECRET, signRaw(SECRET, { room: "r1", role: "observer" }))).message).toMatch(/finite/);
  });

  it("an exp of 1e309 (JSON for Infinity) or more than a year ahead is refused, not a token that never expires", () => {
    const infinite = signRaw(SECRET, '{"room":"r1","role":"observer","exp":1e309}');
    expect(tokenError(() => verifyToken(SECRET, infinite)).message).toMatch(/finite/);
    const now = Math.floor(Date.now() / 1000);
    const farOff = signRaw(SECRET, { room: "r1", role: "observer", exp: now + MAX_TOKEN_LIFETIME_SECONDS + 60 });
    expect(tokenError(() => verifyToken(SECRET, farOff)).message).toMatch(/a year/);
    expect(verifyToken(SECRET, signRaw(SECRET, { room: "r1", role: "observer", exp: now + MAX_TOKEN_LIFETIME_SECONDS - 60 })).room).toBe("r1");
    expect(tokenError(() => mintToken(SECRET, { room: "r", role: "observer", exp: Number.POSITIVE_INFINITY })).message).toMatch(/finite/);
    expect(tokenError(() => mintToken(SECRET, { room: "r", role: "observer", exp: now + 2 * MAX_TOKEN_LIFETIME_SECONDS })).message).toMatch(/a year/);
  });

  it("mintToken refuses bad room ids, roles, participant ids and expiries", () => {
    for (const room of ["", "a b", "room/1", "x".repeat(65), "é", 7 as unknown as string]) {
      expect(tokenError(() => mintToken(SECRET, { room, role: "observer", exp: inAnHour() })).message).toMatch(/room/);
    }
    expect(tokenError(() => mintToken(SECRET, { room: "r", role: "admin" as "observer", exp: inAnHour() })).message).toMatch(/role/);
    for (const participantId of [undefined, "", "a b", "x".repeat(65)]) {
      expect(tokenError(() => mintToken(SECRET, { room: "r", role: "participant", participantId, exp: inAnHour() })).message).toMatch(/participant id/);
    }
    expect(tokenError(() => mintToken(SECRET, { room: "r", role: "observer", exp: Number.NaN })).message).toMatch(/exp/);
    expect(isValidId("x".repeat(64))).toBe(true);
    expect(isValidId("A-Za-z0-9._~")).toBe(true);
  });

  it("verifyToken refuses correctly signed tokens with a bad room, role or participant id", () => {
    const exp = inAnHour();
    const cases: Array<[unknown, RegExp]> = [
      [{ room: "bad room", role: "observer", exp }, /room or role/],
      [{ room: "", role: "observer", exp }, /room or role/],
      [{ role: "observer", exp }, /room or role/],
      [{ room: "r", role: "admin", exp }, /room or role/],
      [{ room: "r", role: "participant", exp }, /participant id/],
      [{ room: "r", role: "participant", participantId: "", exp }, /participant id/],
      [{ room: "r", role: "participant", participantId: "a/b", exp }, /participant id/],
      [{ room: "r", role: "participant", participantId: 12, exp }, /participant id/],
      ["not json", /malformed token claims/],
      ["null", /room or role|malformed/],
    ];
    for (const [claims, why] of cases) expect(tokenError(() => verifyToken(SECRET, signRaw(SECRET, claims))).message).toMatch(why);
  });

  it("refuses missing, non-string, dot-less and oversized tokens", () => {
    for (const token of [undefined, null, 42, {}, "", "nodot", ".sigonly", "x".repeat(2049)]) tokenError(() => verifyToken(SECRET, token));
  });
});

describe("mesoguard token", () => {
  const run = (args: string[], env: Record<string, string | undefined>) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env };
    for (const key of Object.keys(childEnv)) if (key.startsWith("MESOGUARD_")) delete childEnv[key];
    Object.assign(childEnv, env);
    return spawnSync(process.execPath, [BIN, "token", ...args], { cwd: ROOT, env: childEnv, encoding: "utf8" });
  };

  it("prints a participant token the server's verifyToken accepts, valid for --ttl seconds", () => {
    const before = Math.floor(Date.now() / 1000);
    const token = mintWithCli(SECRET, ["--room", "room-1", "--role", "participant", "--participant", "alice", "--ttl", "120"]);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const claims = verifyToken(SECRET, token);
    expect(claims).toMatchObject({ room: "room-1", role: "participant", participantId: "alice" });
    expect(claims.exp).toBeGreaterThanOrEqual(before + 120);
    expect(claims.exp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 120);
    tokenError(() => verifyToken("another-secret-of-16+chars", token));
  });

  it("prints an observer token; the default ttl is an hour", () => {
    const claims = verifyToken(SECRET, mintWithCli(SECRET, ["--room", "room-1", "--role", "observer"]));
    expect(claims.role).toBe("observer");
    expect(claims.participantId).toBeUndefined();
    expect(claims.exp - Date.now() / 1000).toBeGreaterThan(3590);
    expect(claims.exp - Date.now() / 1000).toBeLessThanOrEqual(3600);
  });

  it("without a secret it exits 2 and says to set MESOGUARD_SECRET", () => {
    const result = run(["--room", "r", "--role", "observer"], {});
    expect(result.status).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/MESOGUARD_SECRET/);
  });

  it("refuses a short secret, missing options, a bad ttl and a participant without an id (exit != 0, no token)", () => {
    const bad: Array<[string[], Record<string, string>]> = [
      [["--room", "r", "--role", "observer"], { MESOGUARD_SECRET: "short" }],
      [["--role", "observer"], { MESOGUARD_SECRET: SECRET }],
      [["--room", "r"], { MESOGUARD_SECRET: SECRET }],
      [["--room", "r", "--role", "observer", "--ttl", "0"], { MESOGUARD_SECRET: SECRET }],
      [["--room", "r", "--role", "observer", "--ttl", "soon"], { MESOGUARD_SECRET: SECRET }],
      [["--room", "r", "--role", "observer", "--ttl", "1e309"], { MESOGUARD_SECRET: SECRET }],
      [["--room", "r", "--role", "observer", "--ttl", String(2 * MAX_TOKEN_LIFETIME_SECONDS)], { MESOGUARD_SECRET: SECRET }],
      [["--room", "r", "--role", "participant"], { MESOGUARD_SECRET: SECRET }],
      [["--room", "bad room", "--role", "observer"], { MESOGUARD_SECRET: SECRET }],
      [["--room", "r", "--role", "admin"], { MESOGUARD_SECRET: SECRET }],
    ];
    for (const [args, env] of bad) {
      const result = run(args, env);
      expect(result.status, args.join(" ")).not.toBe(0);
      expect(result.stdout, args.join(" ")).toBe("");
      expect(result.stderr.length, args.join(" ")).toBeGreaterThan(0);
    }
  });
});
