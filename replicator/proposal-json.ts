// The JSON convenience form of ReplicatedLog.proposeEncoded (tests, tools), shared by both hosts
// (node.ts over Raft, paxos/paxos-node.ts over Multi-Paxos): the command encoded from JSON, the
// answer with the command's engine events as JSON objects.

import { eventToJson } from '../engine/json-codec.js';
import { encodeJsonCommand } from '../shard/json-command.js';
import { ApplyOutcome } from '../shard/state-machine.js';
import type { Proposal, ProposalReply, ReplicatedLog } from './log.js';

export function proposeJson(node: Pick<ReplicatedLog, 'proposeEncoded'>, p: Proposal): Promise<ProposalReply> {
  const body = encodeJsonCommand(p.command);
  return new Promise<ProposalReply>((resolve, reject) => {
    node.proposeEncoded(
      { clientId: p.clientId, requestSeq: p.requestSeq, body, ...(p.tsUs !== undefined ? { tsUs: p.tsUs } : {}) },
      (err, result, events) => {
        if (err !== undefined) return reject(err);
        const evs: unknown[] = [];
        if (result!.outcome === ApplyOutcome.APPLIED)
          for (let i = result!.eventsFrom; i < result!.eventsTo; i++)
            evs.push(JSON.parse(eventToJson(events!.event(i))));
        resolve({ result: result!, events: evs });
      },
    );
  });
}
