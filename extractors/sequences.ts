/**
 * Optional per-packet sequences for sequence models, JoyfulJay's `include_sequences` and `include_splt`:
 *
 * - `iat_sequence`, `timestamp_sequence`, `pkt_len_sequence`: the gaps between the first packets, their times
 *   since the flow's start, and their lengths signed by direction, truncated and padded with 0 to exactly
 *   `max_sequence_length` values;
 * - `splt` (Sequence of Packet Lengths and Times): `[length, gap, direction]` for each of the first
 *   `max_sequence_length` packets (direction 1 from the initiator, -1 from the responder; gap 0 for the first),
 *   and the same three as separate lists. Not padded.
 *
 * Only the first `max_sequence_length` packets are kept, so memory per flow is bounded.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";

/** Settings of the sequences group. */
export interface SequenceOptions {
  /** Write `iat_sequence`, `timestamp_sequence` and `pkt_len_sequence`. */
  includeSequences: boolean;
  /** Write `splt`, `splt_lengths`, `splt_times`, `splt_directions`. */
  includeSplt: boolean;
  /** Packets kept per flow (default 50). */
  maxSequenceLength: number;
}

/** Per-flow state of the sequences group: the first packets' times, lengths and directions. */
export class SequenceState {
  times: number[] = [];
  lengths: number[] = [];
  dirs: number[] = [];
}

/** Column declarations of the sequences group (all of them; the group writes those its options ask for). */
export const SEQUENCE_FEATURES: readonly FeatureSpec[] = [
  {
    name: "iat_sequence",
    type: "list",
    description: "Gaps between the first packets, seconds, padded with 0 to max_sequence_length values.",
  },
  {
    name: "timestamp_sequence",
    type: "list",
    description:
      "Times of the first packets since the flow's start, seconds, padded with 0 to max_sequence_length.",
  },
  {
    name: "pkt_len_sequence",
    type: "list",
    description:
      "Wire lengths of the first packets, positive from the initiator and negative from the responder, padded " +
      "with 0 to max_sequence_length (JoyfulJay's, with the lengths of pkt_len_*).",
  },
  {
    name: "splt",
    type: "list",
    description:
      "[wire length, gap in seconds, direction 1 / -1] for each of the first max_sequence_length packets.",
  },
  {
    name: "splt_lengths",
    type: "list",
    description: "Wire lengths of the first max_sequence_length packets.",
  },
  {
    name: "splt_times",
    type: "list",
    description: "Gaps before the first packets (0 for the first), seconds.",
  },
  {
    name: "splt_directions",
    type: "list",
    description: "Directions of the first packets: 1 from the initiator, -1 from the responder.",
  },
];

/**
 * The sequences group for the given options (`name` "sequences"); `extractFlows` adds it when
 * `includeSequences` or `includeSplt` is set.
 *
 * @example
 * ```ts
 * import { sequencesExtractor } from "./sequences.ts";
 * const e = sequencesExtractor({ includeSequences: false, includeSplt: true, maxSequenceLength: 20 });
 * console.log(e.features.map((f) => f.name)); // ["splt", "splt_lengths", "splt_times", "splt_directions"]
 * ```
 */
export function sequencesExtractor(o: SequenceOptions): FeatureExtractor<SequenceState> {
  const max = o.maxSequenceLength;
  // iat_sequence needs one packet more than the others.
  const keep = o.includeSequences ? max + 1 : max;
  const features = SEQUENCE_FEATURES.filter((f) =>
    f.name.startsWith("splt") ? o.includeSplt : o.includeSequences
  );
  return {
    name: "sequences",
    features,
    init: (): SequenceState => new SequenceState(),
    update(s: SequenceState, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
      if (s.times.length >= keep) return;
      s.times.push(p.tsNs);
      s.lengths.push(p.wireLen);
      s.dirs.push(dir === 0 ? 1 : -1);
    },
    finish(s: SequenceState, flow: FlowState, out): void {
      const t = s.times, n = Math.min(t.length, max);
      if (o.includeSequences) {
        const iat: number[] = new Array(max).fill(0), rel: number[] = new Array(max).fill(0);
        for (let i = 0; i + 1 < t.length && i < max; i++) iat[i] = (t[i + 1] - t[i]) / 1e9;
        for (let i = 0; i < n; i++) rel[i] = (t[i] - flow.firstNs) / 1e9;
        const lengths: number[] = new Array(max).fill(0);
        for (let i = 0; i < n; i++) lengths[i] = s.dirs[i] * s.lengths[i];
        out.iat_sequence = iat;
        out.timestamp_sequence = rel;
        out.pkt_len_sequence = lengths;
      }
      if (o.includeSplt) {
        const splt: number[][] = [], times: number[] = [];
        for (let i = 0; i < n; i++) {
          const gap = i === 0 ? 0 : (t[i] - t[i - 1]) / 1e9;
          times.push(gap);
          splt.push([s.lengths[i], gap, s.dirs[i]]);
        }
        out.splt = splt;
        out.splt_lengths = s.lengths.slice(0, n);
        out.splt_times = times;
        out.splt_directions = s.dirs.slice(0, n);
      }
    },
  };
}
