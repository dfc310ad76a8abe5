// The audit trail: every participant event (a verdict state change, a pause or resume, a dismissed flag) is one
// structured log line and, when webhooks are configured, one webhook event. Both carry the same fields.
import { randomUUID } from "node:crypto";

import type { Logger } from "pino";

import type { ParticipantEvent } from "../protocol/protocolTypes.js";
import type { WebhookSender } from "./webhooks.js";

/** An event as its producer describes it; the trail stamps its id. */
export type ParticipantEventInput = ParticipantEvent extends infer E ? (E extends ParticipantEvent ? Omit<E, "id"> : never) : never;

const LOG_MESSAGE: Record<ParticipantEvent["type"], string> = {
  "verdict.state-changed": "verdict state changed",
  "participant.paused": "participant paused",
  "participant.resumed": "participant resumed",
  "flag.dismissed": "flag dismissed",
};

export class AuditTrail {
  constructor(
    private readonly log: Logger,
    private readonly webhooks: WebhookSender | null,
  ) {}

  record(input: ParticipantEventInput): void {
    const event = { id: randomUUID(), ...input } as ParticipantEvent;
    // The log names the participant and the aggregation method the way the other log lines do.
    const { type, participantId, ...fields } = event;
    const method = "aggregateMethod" in fields ? fields.aggregateMethod : undefined;
    if ("aggregateMethod" in fields) delete (fields as Partial<typeof fields>).aggregateMethod;
    this.log.info({ audit: type, participant: participantId, ...fields, ...(method !== undefined && { method }) }, LOG_MESSAGE[type]);
    this.webhooks?.send(event);
  }
}
