// Operator commands of the CLI (issue 7): the cluster's health from every replica's client
// port (replicator/client/server.ts, op 'status'), leadership transfer, snapshot triggers and
// membership changes (ops 'transfer-leader', 'snapshot', 'membership'), and the gateway's admin REST API (halt, resume, kill
// switch; gateway/client/rest-client.ts). Exit codes: 0 ok, 1 an error reply or nothing
// reachable, 2 bad usage.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseClusterConfig } from '../replicator/cluster-config.js';
import { loadTlsMaterial } from '../ops/tls-settings.js';
import type { NodeStatus } from '../replicator/log.js';
import { requestOnce } from '../replicator/client/client.js';
import { OrderEntryRestClient, type AdminRoute, type RestResponse } from '../gateway/client/rest-client.js';
import {
  clusterRows,
  type Member,
  type MemberStatusRow,
  STATUS_TIMEOUT_MS,
  statusOf,
} from '../replicator/client/cluster-status.js';

const CLUSTER_DEFAULT = 'replicator/examples/cluster-3-local.json';
const ADMIN_TIMEOUT_MS = 10_000;
const TRANSFER_WAIT_MS_DEFAULT = 10_000;
const SNAPSHOT_WAIT_MS_DEFAULT = 10_000;
/** add-node: how long the new member may take to catch up as a learner before it is promoted. */
const ADD_NODE_WAIT_MS_DEFAULT = 60_000;
/** A membership change is answered once applied on the leader: one commit round trip. */
const MEMBERSHIP_TIMEOUT_MS = 10_000;
const POLL_MS = 100;

export const OPERATOR_USAGE = `  cluster status [--cluster FILE | --config GATEWAY_FILE [--shard S]] [--json]
                                                   (every replica's role, term, commit, applied, lag, snapshot; every shard with --config)
  halt SYMBOL | resume SYMBOL                      (gateway admin API: --url U --key K --secret S, admin key by default)
  kill-switch ACCOUNT [--off]
  slow-orders [--limit N]                          (the gateway's slowest recent requests, stage by stage)
  transfer-leader --to N [--cluster FILE] [--wait-ms MS]
  snapshot [--node N] [--cluster FILE] [--wait-ms MS]
  add-node --node N [--cluster FILE] [--wait-ms MS] (member N of the file, "join": true, running: learner, caught up, voter)
  remove-node --node N [--cluster FILE]`;

const HELP: Record<string, string> = {
  cluster: `usage: matchbook cluster status [--cluster ${CLUSTER_DEFAULT}] [--json]
       matchbook cluster status --config GATEWAY_FILE [--shard S] [--json]
  Asks every member's client port for its status. Columns: lag = commit - applied on that
  member; behind = the leader's commit - the member's applied. Exit 1 if no member answers.
  --config: every shard of the gateway file (npm start: <data root>/config/gateway-local.json),
  one table each (--json: {"shards":[{"shard","cluster","members"}]}); --shard S: that one.
  Exit 1 if a shard has no member answering.`,
  halt: 'usage: matchbook halt SYMBOL [--url http://127.0.0.1:8080] [--key demo-admin] [--secret demo-admin-secret-change-me]\n  Halts trading in SYMBOL (POST /v1/admin/halt).',
  resume:
    'usage: matchbook resume SYMBOL [--url U] [--key K] [--secret S]\n  Resumes trading in SYMBOL (POST /v1/admin/resume).',
  'kill-switch':
    'usage: matchbook kill-switch ACCOUNT [--off] [--url U] [--key K] [--secret S]\n  Blocks every order of ACCOUNT (--off: unblocks it) (POST /v1/admin/kill-switch).',
  'slow-orders':
    'usage: matchbook slow-orders [--limit 50] [--url U] [--key K] [--secret S]\n  The slowest recent requests the gateway kept (slower than its slowOrderMs), newest first: ms from receipt to each gateway\n  stage, and the leader\'s stages of the same log entry (POST /v1/admin/slow-orders; gateway/README.md "Latency trace").',
  'transfer-leader': `usage: matchbook transfer-leader --to N [--cluster ${CLUSTER_DEFAULT}] [--wait-ms ${TRANSFER_WAIT_MS_DEFAULT}]
  Asks the leader to hand leadership to voter N (Raft TimeoutNow), then waits until N leads.`,
  snapshot: `usage: matchbook snapshot [--node N] [--cluster ${CLUSTER_DEFAULT}] [--wait-ms ${SNAPSHOT_WAIT_MS_DEFAULT}]
  Asks every member (or node N) to snapshot its state machine now, whatever the interval,
  and waits until each has started saving one past its previous snapshot.`,
  'add-node': `usage: matchbook add-node --node N [--cluster ${CLUSTER_DEFAULT}] [--wait-ms ${ADD_NODE_WAIT_MS_DEFAULT}]
  Adds member N to the Raft group, one server at a time: N must be in the cluster file on every
  host (with "join": true, so that it is not in the genesis membership) and already running
  (npm run replica -- --config FILE --node N). The leader adds it as a learner (it receives the
  log or a snapshot but does not vote), this command waits until N has applied everything the
  leader had committed, then the leader promotes it to voter. Prints the new membership.`,
  'remove-node': `usage: matchbook remove-node --node N [--cluster ${CLUSTER_DEFAULT}]
  Removes member N (voter or learner) from the Raft group; the leader may remove itself (it then
  steps down and the others elect a new one). The last voter cannot be removed. Stop N's
  process afterwards; it no longer votes or receives entries. Prints the new membership.`,
};

class UsageError extends Error {}

/** The flags of every operator command; the defaults come from the environment. */
function parseOperatorArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      cluster: { type: 'string', default: process.env.MATCHBOOK_CLUSTER ?? CLUSTER_DEFAULT },
      config: { type: 'string' },
      shard: { type: 'string' },
      json: { type: 'boolean', default: false },
      url: { type: 'string', default: process.env.MATCHBOOK_URL ?? 'http://127.0.0.1:8080' },
      key: { type: 'string', default: process.env.MATCHBOOK_ADMIN_KEY ?? 'demo-admin' },
      secret: { type: 'string', default: process.env.MATCHBOOK_ADMIN_SECRET ?? 'demo-admin-secret-change-me' },
      off: { type: 'boolean', default: false },
      to: { type: 'string' },
      node: { type: 'string' },
      'wait-ms': { type: 'string' },
      limit: { type: 'string' },
    },
  });
}

/** Runs an operator command; undefined if argv[0] is not one (the caller tries its own commands). */
export async function runOperator(argv: string[]): Promise<number | undefined> {
  const cmd = argv[0];
  if (cmd === undefined || !(cmd in HELP)) return undefined;
  let parsed: ReturnType<typeof parseOperatorArgs>;
  try {
    parsed = parseOperatorArgs(argv.slice(1));
  } catch (err) {
    console.error(`${(err as Error).message}\n${HELP[cmd]}`);
    return 2;
  }
  const { values: a, positionals: pos } = parsed;
  if (a.help) {
    console.log(HELP[cmd]);
    return 0;
  }
  try {
    switch (cmd) {
      case 'cluster':
        if (pos[0] !== 'status' || pos.length !== 1)
          throw new UsageError(
            pos[0] === undefined ? 'cluster needs a subcommand: status' : `unknown: cluster ${pos.join(' ')}`,
          );
        if (a.config !== undefined) return await shardsStatus(loadShards(a.config, a.shard), a.json);
        if (a.shard !== undefined) throw new UsageError('--shard needs --config GATEWAY_FILE');
        return await clusterStatus(loadMembers(a.cluster), a.json);
      case 'halt':
      case 'resume': {
        if (pos.length !== 1) throw new UsageError(`${cmd} needs exactly one SYMBOL`);
        return await admin(a, cmd, { symbol: pos[0] });
      }
      case 'kill-switch': {
        if (pos.length !== 1) throw new UsageError('kill-switch needs exactly one ACCOUNT');
        return await admin(a, 'kill-switch', { account: positiveInt(pos[0]!, 'ACCOUNT'), active: !a.off });
      }
      case 'slow-orders': {
        if (pos.length !== 0) throw new UsageError(`unexpected argument ${pos[0]}`);
        return await admin(a, 'slow-orders', a.limit === undefined ? {} : { limit: positiveInt(a.limit, '--limit') });
      }
      case 'transfer-leader': {
        if (pos.length !== 0) throw new UsageError(`unexpected argument ${pos[0]}`);
        if (a.to === undefined) throw new UsageError('transfer-leader needs --to N');
        const to = positiveInt(a.to, '--to');
        const members = loadMembers(a.cluster);
        if (!members.some((m) => m.id === to)) throw new UsageError(`node ${to} is not a member of ${a.cluster}`);
        return await transferLeader(members, to, waitMs(a['wait-ms'], TRANSFER_WAIT_MS_DEFAULT));
      }
      case 'snapshot': {
        if (pos.length !== 0) throw new UsageError(`unexpected argument ${pos[0]}`);
        let members = loadMembers(a.cluster);
        if (a.node !== undefined) {
          const id = positiveInt(a.node, '--node');
          members = members.filter((m) => m.id === id);
          if (members.length === 0) throw new UsageError(`node ${id} is not a member of ${a.cluster}`);
        }
        return await snapshot(members, waitMs(a['wait-ms'], SNAPSHOT_WAIT_MS_DEFAULT));
      }
      case 'add-node':
      case 'remove-node': {
        if (pos.length !== 0) throw new UsageError(`unexpected argument ${pos[0]}`);
        if (a.node === undefined) throw new UsageError(`${cmd} needs --node N`);
        const id = positiveInt(a.node, '--node');
        const members = loadMembers(a.cluster);
        if (!members.some((m) => m.id === id))
          throw new UsageError(
            `node ${id} is not in ${a.cluster}: add its entry (id, raft, client addresses, "join": true) to the file on every host first`,
          );
        return cmd === 'add-node'
          ? await addNode(members, id, waitMs(a['wait-ms'], ADD_NODE_WAIT_MS_DEFAULT))
          : await removeNode(members, id);
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n${HELP[cmd]}`);
      return 2;
    }
    throw err;
  }
  return undefined;
}

function positiveInt(v: string, what: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < 1)
    throw new UsageError(`${what} must be a positive integer, got ${v}`);
  return Number(v);
}

function waitMs(v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new UsageError(`--wait-ms must be a whole number of milliseconds, got ${v}`);
  return Number(v);
}

function loadMembers(file: string): Member[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the cluster file ${file}: ${(err as Error).message}`);
  }
  try {
    const cfg = parseClusterConfig(JSON.parse(text) as unknown, path.dirname(path.resolve(file)));
    // The operator dials the client port as the gateway does: with the cluster's TLS when it has one.
    const tls = cfg.tls !== undefined ? loadTlsMaterial(cfg.tls) : undefined;
    return cfg.members.map((m) => ({ ...m, tls }));
  } catch (err) {
    throw new UsageError(`bad cluster file ${file}: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Replica client port
// ---------------------------------------------------------------------------------------------

/** The shards of a gateway file (`shards: [{id, clusterConfig}]`, paths relative to it), or only `shard`. */
function loadShards(file: string, shard: string | undefined): { shard: number; cluster: string }[] {
  let raw: { shards?: { id?: unknown; clusterConfig?: unknown }[] };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as typeof raw;
  } catch (err) {
    throw new UsageError(`cannot read the gateway file ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw.shards)) throw new UsageError(`bad gateway file ${file}: no "shards" array`);
  const all = raw.shards.map((s, k) => ({
    shard: typeof s.id === 'number' ? s.id : k,
    cluster: path.resolve(path.dirname(path.resolve(file)), String(s.clusterConfig)),
  }));
  if (shard === undefined) return all;
  const one = all.filter((s) => String(s.shard) === shard);
  if (one.length === 0)
    throw new UsageError(`no shard ${shard} in ${file} (shards: ${all.map((s) => s.shard).join(', ')})`);
  return one;
}

/** cluster status of every shard given: one table each, or one JSON document. */
async function shardsStatus(shards: { shard: number; cluster: string }[], json: boolean): Promise<number> {
  const all = await Promise.all(
    shards.map(async (s) => ({ ...s, members: await clusterRows(loadMembers(s.cluster)) })),
  );
  if (json) console.log(JSON.stringify({ shards: all }, null, 2));
  else
    for (const s of all) {
      console.log(`shard ${s.shard} (${s.cluster})`);
      printStatusTable(s.members);
    }
  return all.every((s) => s.members.some((r) => r.reachable)) ? 0 : 1;
}

async function clusterStatus(members: Member[], json: boolean): Promise<number> {
  const rows = await clusterRows(members);
  if (json) console.log(JSON.stringify({ members: rows }, null, 2));
  else printStatusTable(rows);
  return rows.some((r) => r.reachable) ? 0 : 1;
}

function printStatusTable(rows: MemberStatusRow[]): void {
  const head = [
    'member',
    'endpoint',
    'role',
    'term',
    'leader',
    'commit',
    'applied',
    'lag',
    'behind',
    'snapshot',
    'membership',
  ];
  const cells = rows.map((r) =>
    r.reachable
      ? [
          r.member,
          r.endpoint,
          r.role,
          r.term,
          r.leader,
          r.commit,
          r.applied,
          r.lag,
          r.behindLeader ?? '-',
          r.snapshotIndex,
          r.membership ?? '-',
        ].map(String)
      : [String(r.member), r.endpoint, `UNREACHABLE (${r.error})`, '', '', '', '', '', '', '', ''],
  );
  const widths = head.map((h, c) =>
    Math.max(h.length, ...cells.map((row) => (row[3] === '' && c === 2 ? 0 : row[c]!.length))),
  );
  const line = (row: string[]) =>
    row
      .map((v, c) => v.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  console.log([line(head), ...cells.map(line)].join('\n'));
  const protocols = [...new Set(rows.flatMap((r) => (r.consensus !== undefined ? [r.consensus] : [])))];
  if (protocols.length > 0) console.log(`consensus: ${protocols.join(', ')}`);
  if (!rows.some((r) => r.role === 'LEADER')) console.log('no leader among the reachable members');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function transferLeader(members: Member[], to: number, waitMsMax: number): Promise<number> {
  const rows = await clusterRows(members);
  const leaderRow = rows.find((r) => r.role === 'LEADER');
  if (leaderRow === undefined) {
    console.error(
      `no leader among the reachable members (${rows.filter((r) => r.reachable).length}/${rows.length} reachable)`,
    );
    return 1;
  }
  if (leaderRow.member === to) {
    console.log(JSON.stringify({ ok: true, leader: to, term: leaderRow.term, note: 'already the leader' }));
    return 0;
  }
  const leader = members.find((m) => m.id === leaderRow.member)!;
  let reply: Record<string, unknown>;
  try {
    reply = await requestOnce(leader.client, { op: 'transfer-leader', to }, STATUS_TIMEOUT_MS * 5, leader.tls);
  } catch (err) {
    console.error(`cannot reach the leader ${leader.id}: ${(err as Error).message}`);
    return 1;
  }
  if (reply.ok !== true) {
    console.error(`leader ${leader.id} refused: ${String(reply.error)}: ${String(reply.message ?? '')}`);
    return 1;
  }
  const target = members.find((m) => m.id === to)!;
  const deadline = Date.now() + waitMsMax;
  for (;;) {
    const s = await statusOf(target);
    if (s.ok && s.status.role === 'LEADER') {
      console.log(JSON.stringify({ ok: true, from: leader.id, leader: to, term: s.status.term }));
      return 0;
    }
    if (Date.now() >= deadline) break;
    await sleep(POLL_MS);
  }
  console.error(
    `node ${to} did not become leader within ${waitMsMax} ms (the transfer is abandoned after an election timeout; is ${to} caught up and reachable?)`,
  );
  return 1;
}

/** The leader's member entry and status, or an error printed and undefined. */
async function findLeader(members: Member[]): Promise<{ member: Member; status: NodeStatus } | undefined> {
  const replies = await Promise.all(members.map(statusOf));
  for (let k = 0; k < members.length; k++) {
    const r = replies[k]!;
    if (r.ok && r.status.role === 'LEADER') return { member: members[k]!, status: r.status };
  }
  console.error(
    `no leader among the reachable members (${replies.filter((r) => r.ok).length}/${members.length} reachable)`,
  );
  return undefined;
}

/** Sends one membership change to the leader; prints a refusal and returns undefined. */
async function changeMembership(
  members: Member[],
  change: 'add-learner' | 'promote' | 'remove',
  node: number,
): Promise<{ conf: NodeStatus['conf']; index: number } | undefined> {
  const leader = await findLeader(members);
  if (leader === undefined) return undefined;
  let reply: Record<string, unknown>;
  try {
    reply = await requestOnce(
      leader.member.client,
      { op: 'membership', change, node },
      MEMBERSHIP_TIMEOUT_MS,
      leader.member.tls,
    );
  } catch (err) {
    console.error(
      `${change} node ${node}: no answer from the leader ${leader.member.id}: ${(err as Error).message} (check the membership with cluster status before retrying)`,
    );
    return undefined;
  }
  if (reply.ok !== true) {
    console.error(
      `${change} node ${node}: leader ${leader.member.id} refused: ${String(reply.error)}: ${String(reply.message ?? '')}`,
    );
    return undefined;
  }
  return { conf: reply.conf as NodeStatus['conf'], index: reply.index as number };
}

async function addNode(members: Member[], id: number, waitMsMax: number): Promise<number> {
  const target = members.find((m) => m.id === id)!;
  const own = await statusOf(target);
  if (!own.ok) {
    console.error(
      `node ${id} does not answer at ${target.client.host}:${target.client.port} (${own.error}): start it first (npm run replica -- --config FILE --node ${id})`,
    );
    return 1;
  }
  const leader = await findLeader(members);
  if (leader === undefined) return 1;
  if (leader.status.conf.voters.includes(id)) {
    console.log(JSON.stringify({ ok: true, node: id, note: 'already a voter', conf: leader.status.conf }));
    return 0;
  }
  const steps: Record<string, unknown>[] = [];
  if (!leader.status.conf.learners.includes(id)) {
    const added = await changeMembership(members, 'add-learner', id);
    if (added === undefined) return 1;
    steps.push({ step: 'add-learner', index: added.index });
  }
  // Caught up: the learner has applied what the leader had committed once it was a learner.
  const target0 = (await findLeader(members))?.status.commit;
  if (target0 === undefined) return 1;
  const deadline = Date.now() + waitMsMax;
  for (;;) {
    const s = await statusOf(target);
    if (s.ok && s.status.applied >= target0) {
      steps.push({ step: 'caught-up', applied: s.status.applied });
      break;
    }
    if (Date.now() >= deadline) {
      console.error(
        `node ${id} did not catch up to index ${target0} within ${waitMsMax} ms (applied ${s.ok ? s.status.applied : 'unknown'}); it stays a learner: retry add-node, or remove-node ${id}`,
      );
      return 1;
    }
    await sleep(POLL_MS);
  }
  const promoted = await changeMembership(members, 'promote', id);
  if (promoted === undefined) return 1;
  steps.push({ step: 'promote', index: promoted.index });
  console.log(JSON.stringify({ ok: true, node: id, steps, conf: promoted.conf }));
  return 0;
}

async function removeNode(members: Member[], id: number): Promise<number> {
  const leader = await findLeader(members);
  if (leader === undefined) return 1;
  const { voters, learners } = leader.status.conf;
  if (!voters.includes(id) && !learners.includes(id)) {
    console.log(JSON.stringify({ ok: true, node: id, note: 'not a member', conf: leader.status.conf }));
    return 0;
  }
  const removed = await changeMembership(members, 'remove', id);
  if (removed === undefined) return 1;
  console.log(
    JSON.stringify({ ok: true, node: id, index: removed.index, conf: removed.conf, next: `stop node ${id}'s process` }),
  );
  return 0;
}

async function snapshot(members: Member[], waitMsMax: number): Promise<number> {
  const results = await Promise.all(
    members.map(async (m) => {
      let r: Record<string, unknown>;
      try {
        r = await requestOnce(m.client, { op: 'snapshot' }, STATUS_TIMEOUT_MS * 5, m.tls);
      } catch (err) {
        return { member: m.id, ok: false, error: (err as Error).message };
      }
      if (r.ok !== true) return { member: m.id, ok: false, error: `${String(r.error)}: ${String(r.message ?? '')}` };
      const before = r.snapshotIndex as number;
      const deadline = Date.now() + waitMsMax;
      for (;;) {
        const s = await statusOf(m);
        if (s.ok && s.status.snapshotIndex > before)
          return { member: m.id, ok: true, previousSnapshotIndex: before, snapshotIndex: s.status.snapshotIndex };
        if (Date.now() >= deadline)
          return {
            member: m.id,
            ok: false,
            previousSnapshotIndex: before,
            error: `no new snapshot within ${waitMsMax} ms (nothing applied since index ${before}?)`,
          };
        await sleep(POLL_MS);
      }
    }),
  );
  console.log(JSON.stringify({ members: results }, null, 2));
  return results.every((r) => r.ok) ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// Gateway admin API
// ---------------------------------------------------------------------------------------------

async function admin(
  a: { url: string; key: string; secret: string },
  route: AdminRoute,
  body: Record<string, unknown>,
): Promise<number> {
  let client: OrderEntryRestClient;
  try {
    client = new OrderEntryRestClient({
      baseUrl: a.url,
      key: { key: a.key, hmacSecret: a.secret },
      timeoutMs: ADMIN_TIMEOUT_MS,
    });
  } catch (err) {
    throw new UsageError(`bad --url ${a.url}: ${(err as Error).message}`);
  }
  let res: RestResponse;
  try {
    res = await client.admin(route, body);
  } catch (err) {
    console.error(`cannot reach the gateway at ${a.url}: ${(err as Error).message} (is \`npm start\` running?)`);
    return 1;
  }
  console.log(JSON.stringify({ status: res.status, body: res.body }, null, 2));
  return res.status >= 200 && res.status < 300 ? 0 : 1;
}
