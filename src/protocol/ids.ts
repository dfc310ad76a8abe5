// The one rule for room and participant ids, shared by the server (joins, tokens, the RTP control API) and the
// pages (src/web). Ids show up in URLs, log lines and metric labels: a short run of URL-unreserved characters.
const ID_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/;

/** The rule in words, for error messages. */
export const ID_RULE = "1-64 characters of A-Z a-z 0-9 . _ ~ -";

export function isValidId(value: unknown): value is string {
  return typeof value === "string" && ID_PATTERN.test(value);
}
