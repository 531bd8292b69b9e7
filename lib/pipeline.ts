/**
 * The synchronous core: packets in (a {@linkcode PacketCallback}), decoded in place, folded into flows, and
 * flow records out as flows end. Readers drive it; `extractFlows` (lib/extract.ts) wraps it as a stream.
 *
 * @module
 */
import type { FeatureExtractor, FlowRecord } from "./extractor.ts";
import type { FlowState } from "./flow.ts";
import { FlowTable, type FlowTableOptions, Rejected } from "./flow_table.ts";
import { PacketDecoder, SKIP_REASON_NAMES, SkipReason } from "./decode.ts";
import { type Flatten, flattenStrings, recordClass, recordClearer } from "./record.ts";

/**
 * Packet accounting, shown in the summary on stderr.
 *
 * @example
 * ```ts
 * import { FlowPipeline, type PacketStats } from "./pipeline.ts";
 * import { flowMetaExtractor } from "../extractors/mod.ts";
 * const pipeline = new FlowPipeline([flowMetaExtractor], {}, () => {});
 * pipeline.packet(0, new Uint8Array(60), 0, 60, 60, 1); // Ethernet with EtherType 0: not IP
 * const stats: PacketStats = pipeline.summary();
 * console.log(stats.read, stats.decoded, stats.skipped); // 1 0 { "not IP (ARP, LLDP, STP, ...)": 1 }
 * ```
 */
export interface PacketStats {
  /** Packets read from the input(s). */
  read: number;
  /** Packets decoded and counted in a flow. */
  decoded: number;
  /** Packets skipped, by reason. */
  skipped: Record<string, number>;
  /** Flow records written. */
  flows: number;
  /** Packets left out by sampling. */
  sampledOut: number;
  /** Packets of flows that belong to another shard (parallel workers). */
  otherShard: number;
}

/**
 * Options of the core.
 *
 * @example
 * ```ts
 * import { FlowPipeline, type FlowPipelineOptions } from "./pipeline.ts";
 * import { flowMetaExtractor } from "../extractors/mod.ts";
 * // Tunnels kept as outer flows, flows ended after 30 s without a packet.
 * const options: FlowPipelineOptions = { decap: false, idleTimeout: 30 };
 * const pipeline = new FlowPipeline([flowMetaExtractor], options, (record) => console.log(record.src_ip));
 * pipeline.flush();
 * ```
 */
export interface FlowPipelineOptions extends FlowTableOptions {
  /** Decapsulate tunnels to the innermost flow (default true). */
  decap?: boolean;
}

/**
 * Decoder + flow table + feature groups.
 *
 * @example
 * ```ts
 * import { FlowPipeline } from "./pipeline.ts";
 * import { BUILTIN_EXTRACTORS } from "../extractors/mod.ts";
 * const records: unknown[] = [];
 * const p = new FlowPipeline(BUILTIN_EXTRACTORS, {}, (r) => records.push(r));
 * p.flush();
 * console.log(records.length); // 0
 * ```
 */
export class FlowPipeline {
  /** Packet accounting. */
  readonly stats: PacketStats = { read: 0, decoded: 0, skipped: {}, flows: 0, sampledOut: 0, otherShard: 0 };
  /** The flow table (exposed for progress: active flows). */
  readonly table: FlowTable;
  /** The number of the packet being read in its input, counting those a filter left out (null: `stats.read`):
   * a new flow's `firstFrame`, set by the reader of each input. */
  frameOf: (() => number) | null = null;
  /** The name of the input being read: a new flow's `firstInput`. */
  inputName = "";
  private readonly decoder = new PacketDecoder();
  private readonly skipCounts: number[] = new Array(SKIP_REASON_NAMES.length).fill(0);
  private readonly unsupportedLinks = new Set<number>();
  /** Makes a record with every declared feature null, in order (see `makeRecordFactory`). */
  private readonly newRecord: () => FlowRecord;
  /** Gives the record's rope strings flat copies (see lib/record.ts). */
  private readonly flattenStrings: Flatten;
  /** Sets a record's columns back to null, for reuse. */
  private readonly clearRecord: (record: FlowRecord) => void;
  /** Records given back by `recycle`, for later flows. */
  private readonly spareRecords: FlowRecord[] = [];
  /** Columns a record has (the groups' declared features, each once). */
  private readonly columnCount: number;
  /** True while `discard` ends the flows. */
  private discarding = false;
  /** Where `discard` has the groups finish (never emitted). */
  private scratchRecord: FlowRecord | null = null;

  /**
   * Runs `extractors`, in order, on every flow, and hands each finished record to `emit` with its flow (in the
   * order flows end).
   */
  constructor(
    // deno-lint-ignore no-explicit-any
    private readonly extractors: readonly FeatureExtractor<any>[],
    options: FlowPipelineOptions,
    private readonly emit: (record: FlowRecord, flow: FlowState) => void,
  ) {
    this.decoder.decap = options.decap ?? true;
    this.decoder.reassembleUdp = extractors.some((e) => e.datagrams === true);
    this.table = new FlowTable(options, (f) => this.finishFlow(f), (f) => this.initFlow(f));
    const records = makeRecordFactory(extractors);
    this.newRecord = records.newRecord;
    this.flattenStrings = records.flatten;
    this.clearRecord = records.clear;
    this.columnCount = records.columns;
  }

  /**
   * Gives back a record this pipeline emitted, once its receiver is done with it (wrote or copied it), for a
   * later flow to reuse. Building a record of more than about 250 columns costs V8 3 µs and 40 KB of garbage
   * (past its in-object limit, the property store grows a few slots at a time, each growth a copy): with every
   * group but connection on, half of what a run allocated. The record must still have exactly the columns it
   * was emitted with.
   *
   * @example
   * ```ts
   * import { FlowPipeline } from "./pipeline.ts";
   * import { flowMetaExtractor } from "../extractors/mod.ts";
   * const p = new FlowPipeline([flowMetaExtractor], {}, (record) => {
   *   console.log(JSON.stringify(record).length > 0);
   *   p.recycle(record);
   * });
   * p.flush();
   * ```
   */
  recycle(record: FlowRecord): void {
    if (this.spareRecords.length >= SPARE_RECORDS) return;
    // A record with a key no group declares (a user extractor's) would carry it into a later flow's record:
    // only one with exactly the declared columns is reused. Counted without allocating (the enum cache).
    let n = 0;
    for (const _ in record) n++;
    if (n === this.columnCount) this.spareRecords.push(record);
  }

  /**
   * Link types seen that the decoder does not read, since the last call (an input's, when one pipeline reads
   * several: see `ExtractOptions.oneCapture`).
   *
   * @example
   * ```ts
   * import { FlowPipeline } from "./pipeline.ts";
   * const p = new FlowPipeline([], {}, () => {});
   * p.packet(0, new Uint8Array(8), 0, 8, 8, 147);
   * console.log(p.takeUnsupportedLinkTypes(), p.takeUnsupportedLinkTypes()); // [147] []
   * ```
   */
  takeUnsupportedLinkTypes(): number[] {
    const seen = [...this.unsupportedLinks];
    this.unsupportedLinks.clear();
    return seen;
  }

  /** Feeds one packet (a {@linkcode PacketCallback}). */
  readonly packet = (
    ts: number,
    buf: Uint8Array,
    off: number,
    capLen: number,
    wireLen: number,
    linkType: number,
    nsec?: number,
  ): void => {
    this.stats.read++;
    const r = this.decoder.decode(ts, buf, off, capLen, wireLen, linkType, nsec);
    if (r !== SkipReason.NONE) {
      this.skipCounts[r]++;
      if (r === SkipReason.UNSUPPORTED_LINK) this.unsupportedLinks.add(linkType);
      const p = this.decoder.packet;
      this.table.expire(ts, p.tsSec, p.tsNsec);
      return;
    }
    const p = this.decoder.packet;
    const table = this.table;
    const flow = table.add(p);
    if (flow === null) {
      if (table.lastRejected === Rejected.SAMPLED_OUT) this.stats.sampledOut++;
      else this.stats.otherShard++;
      return;
    }
    this.stats.decoded++;
    flow.lastPacket = this.stats.read;
    const dir = table.lastDir;
    const ex = this.extractors, st = flow.groupState;
    for (let i = 0; i < ex.length; i++) ex[i].update(st[i], p, flow, dir);
    table.afterPacket(flow);
  };

  /** Ends every flow still in the table. */
  flush(): void {
    this.table.flushAll();
  }

  /**
   * Ends every flow still in the table without a record (the consumer stopped, or an error ended the run): no
   * record is built or emitted, but each group's finish still runs, into a scratch record, so that what its
   * state holds outside the flow (chunks of the shared sample arena) is given back. An error of a finish is
   * passed over: the flows are dropped anyway.
   *
   * @example
   * ```ts
   * import { FlowPipeline } from "./pipeline.ts";
   * import { flowMetaExtractor } from "../extractors/mod.ts";
   * const p = new FlowPipeline([flowMetaExtractor], {}, () => console.log("never"));
   * p.discard();
   * ```
   */
  discard(): void {
    this.discarding = true;
    try {
      this.table.flushAll();
    } finally {
      this.discarding = false;
    }
  }

  /** The accounting with skip reasons by name. */
  summary(): PacketStats {
    const skipped: Record<string, number> = {};
    for (let i = 1; i < this.skipCounts.length; i++) {
      if (this.skipCounts[i] > 0) skipped[SKIP_REASON_NAMES[i]] = this.skipCounts[i];
    }
    this.stats.skipped = skipped;
    return this.stats;
  }

  /** Stamps a new flow with its first packet's number and gives it each group's initial state. */
  private initFlow(f: FlowState): void {
    f.firstPacket = this.stats.read;
    f.firstFrame = this.frameOf !== null ? this.frameOf() : this.stats.read;
    f.firstInput = this.inputName;
    const ex = this.extractors;
    // Of its final size at once (it grew by push from empty, its store moved apart). The flow holds it while
    // the states are made: a group's init may read the states of the groups before it (the fingerprint
    // observer finds the tls, quic and ssh analyzers there).
    const st: unknown[] = f.groupState = new Array(ex.length);
    for (let i = 0; i < ex.length; i++) st[i] = ex[i].init(f);
  }

  /** Builds the record of an ended flow (a spare one when there is one), releases its state, and emits it. */
  private finishFlow(f: FlowState): void {
    if (this.discarding) {
      const scratch = this.scratchRecord ??= this.newRecord();
      const ex = this.extractors, st = f.groupState;
      for (let i = 0; i < ex.length; i++) {
        try {
          ex[i].finish(st[i], f, scratch);
        } catch {
          // Dropped anyway (see discard).
        }
      }
      f.groupState = [];
      return;
    }
    let rec = this.spareRecords.pop();
    if (rec === undefined) rec = this.newRecord();
    else this.clearRecord(rec);
    const ex = this.extractors, st = f.groupState;
    for (let i = 0; i < ex.length; i++) ex[i].finish(st[i], f, rec);
    this.flattenStrings(rec);
    f.groupState = [];
    this.stats.flows++;
    this.emit(rec, f);
  }
}

/** Records kept for reuse at most (a consumer gives back about one input buffer's flows at a time). */
const SPARE_RECORDS = 1024;

/** The record constructor, clearing and string flattening of a set of groups (see lib/record.ts for why). */
// deno-lint-ignore no-explicit-any
function makeRecordFactory(extractors: readonly FeatureExtractor<any>[]): {
  newRecord: () => FlowRecord;
  clear: (record: FlowRecord) => void;
  flatten: Flatten;
  columns: number;
} {
  const names: string[] = [], strings: string[] = [], lists: string[] = [];
  for (const e of extractors) {
    for (const f of e.features) {
      if (names.includes(f.name)) continue;
      names.push(f.name);
      if (f.type === "str") strings.push(f.name);
      else if (f.type === "list") lists.push(f.name);
    }
  }
  const Record = recordClass(names);
  return {
    newRecord: () => new Record(),
    clear: recordClearer(names),
    flatten: flattenStrings(strings, lists),
    columns: names.length,
  };
}
