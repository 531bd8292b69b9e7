/**
 * User extractors (`registerExtractor`, the `extractors` option, `--extractor` modules) run inside a guard that
 * the built-in groups do without: an error they throw names the extractor, the call and the flow, and what their
 * `finish` and `finalize` write is checked against the declared types, so that every output format carries the
 * same values (a string in an int column was kept by JSON Lines and made null by Parquet; a BigInt stopped JSON
 * Lines; `undefined` dropped the key from JSON Lines; an integer past 2^53 is not exact in JSON Lines, and past
 * 2^63 Parquet made it null; a string with a lone surrogate was U+FFFD in CSV and Parquet only), and `finish`
 * may not change a column of another group.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FeatureType, FlowRecord } from "./extractor.ts";
import type { FlowState } from "./flow.ts";
import type { PacketView } from "./packet.ts";

/**
 * An error of a user extractor: its name, the call (`init`, `update`, `finish`, `finalize`) and what went
 * wrong, in one line.
 *
 * @example
 * ```ts
 * import { ExtractorError } from "./user_extractor.ts";
 * const e = new ExtractorError("mine", "update", "threw TypeError: x is undefined");
 * console.log(e.message); // extractor mine: update threw TypeError: x is undefined
 * ```
 */
export class ExtractorError extends Error {
  /**
   * Creates the error.
   *
   * @example
   * ```ts
   * import { ExtractorError } from "./user_extractor.ts";
   * console.log(new ExtractorError("mine", "finish", "wrote 1.5 to n, declared int").name); // ExtractorError
   * ```
   */
  constructor(readonly extractor: string, readonly call: string, what: string) {
    super(`extractor ${extractor}: ${call} ${what}`);
    this.name = "ExtractorError";
  }
}

/** A thrown value in a few words: Error name and message (on one line), or the value itself. */
function thrown(e: unknown): string {
  if (e instanceof Error) {
    const message = e.message.replace(/\s*\n\s*/g, " ").trim();
    return `threw ${e.name}${message === "" ? "" : `: ${message}`}`;
  }
  return `threw ${shortValue(e)}`;
}

/** A value as a message shows it (kind, and the value when it is short). */
function shortValue(v: unknown): string {
  switch (typeof v) {
    case "string":
      return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}${
        v.isWellFormed() ? "" : " (a lone surrogate: not Unicode text)"
      }`;
    case "number":
    case "boolean":
      return `the ${typeof v} ${v}`;
    case "bigint":
      return `the bigint ${v}n`;
    case "undefined":
      return "undefined";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
  }
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null
    ? "an object"
    : `a ${(proto?.constructor?.name as string | undefined) ?? "object"}`;
}

/** True when `v` is a value of a column of type `t` (null aside). NaN and infinities, written as null, pass. */
function fits(t: FeatureType, v: unknown): boolean {
  switch (t) {
    case "int":
      return typeof v === "number" && (Number.isSafeInteger(v) || !Number.isFinite(v));
    case "float":
      return typeof v === "number";
    case "str":
      return typeof v === "string" && v.isWellFormed();
    case "bool":
      return typeof v === "boolean";
    case "list":
      return Array.isArray(v);
    case "dict":
      return isPlainObject(v);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * A value inside a list or dict that no output can write (a bigint, a function, a symbol, an object of a class, a
 * string with a lone surrogate),
 * or the text "a cycle" for a list or dict that holds itself, or null when every one can (JSON Lines stopped at
 * a bigint or a cycle, naming no extractor). Undefined passes: JSON writes it as null in a list and leaves it
 * out of a dict. Walked with a stack of its own, each list or dict once, so that depth and shared parts cost
 * nothing more.
 */
function unwritable(top: unknown): unknown {
  const seen = new Set<unknown>([top]);
  const onPath = new Set<unknown>();
  // Entries: a value to look into, or a marker that the walk leaves a list or dict.
  const stack: { v: unknown; leave: boolean }[] = [{ v: top, leave: false }];
  while (stack.length > 0) {
    const { v, leave } = stack.pop()!;
    if (leave) {
      onPath.delete(v);
      continue;
    }
    onPath.add(v);
    stack.push({ v, leave: true });
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (let i = 0; i < children.length; i++) {
      const c = children[i];
      if (
        c === null || c === undefined || (typeof c === "string" && c.isWellFormed()) ||
        typeof c === "number" ||
        typeof c === "boolean"
      ) continue;
      if (Array.isArray(c) || isPlainObject(c)) {
        if (onPath.has(c)) return "a cycle";
        if (seen.has(c)) continue;
        seen.add(c);
        stack.push({ v: c, leave: false });
        continue;
      }
      return c;
    }
  }
  return null;
}

/** A returned value that is a promise: work that would come after the call. */
function isThenable(v: unknown): boolean {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}

/** An endpoint for a message: `10.0.0.1:80`, `[2001:db8::1]:80`. */
function endpoint(ip: unknown, port: unknown): string {
  return typeof ip === "string" && ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Where a flow is, for a message: its endpoints, and the number of its first packet in its input (named). */
function flowAt(flow: FlowState): string {
  return `(flow ${endpoint(flow.srcIp, flow.srcPort)} > ${endpoint(flow.dstIp, flow.dstPort)}, from packet ${
    flow.firstFrame || flow.firstPacket
  }${flow.firstInput === "" ? "" : ` of ${flow.firstInput}`})`;
}

/** Where a record is, for a message of `finalize`: its endpoints. */
function recordAt(r: FlowRecord): string {
  return `(flow ${endpoint(r.src_ip, r.src_port)} > ${endpoint(r.dst_ip, r.dst_port)})`;
}

/**
 * The values of the columns of a record that extractor `name` did not declare, taken before its `finish` and
 * compared after it: a changed one is another group's value it wrote over (`total_packets = "lots"` was kept by
 * JSON Lines and made null by Parquet). Keys it adds stay allowed, and the record stays the same object (a
 * plugin may key its own state by it). The column names are taken once per kind of record.
 */
class OtherColumns {
  private shape: unknown = null;
  private keys: string[] = [];
  private readonly values: unknown[] = [];
  constructor(private readonly mine: ReadonlySet<string>) {}

  /** Takes the values of `r`'s other columns. */
  take(r: FlowRecord): void {
    const shape = Object.getPrototypeOf(r);
    if (shape !== this.shape || shape === Object.prototype) {
      this.shape = shape;
      this.keys = Object.keys(r).filter((k) => !this.mine.has(k));
    }
    const keys = this.keys, values = this.values;
    values.length = keys.length;
    for (let i = 0; i < keys.length; i++) values[i] = r[keys[i]];
  }

  /** The first column whose value is not the one taken, or null. */
  changed(r: FlowRecord): string | null {
    const keys = this.keys, values = this.values;
    for (let i = 0; i < keys.length; i++) {
      if (!Object.is(r[keys[i]], values[i]) || !(keys[i] in r)) return keys[i];
    }
    return null;
  }
}

/**
 * `e` wrapped in the guard (see the module documentation): the same name, features and calls, with `finalize`
 * only when `e` has one.
 *
 * @example
 * ```ts
 * import { guardExtractor } from "./user_extractor.ts";
 * import { FlowState } from "./flow.ts";
 * const guarded = guardExtractor({
 *   name: "mine",
 *   features: [{ name: "mine_n", type: "int", description: "n" }],
 *   init: () => 0,
 *   update: () => {},
 *   finish: (_s, _f, out) => void (out.mine_n = 1.5),
 * });
 * try {
 *   guarded.finish(0, new FlowState(), {});
 * } catch (e) {
 *   console.log((e as Error).message.startsWith("extractor mine: finish wrote the number 1.5 to mine_n")); // true
 * }
 * ```
 */
export function guardExtractor<S>(e: FeatureExtractor<S>): FeatureExtractor<S> {
  const name = e.name, features: readonly FeatureSpec[] = e.features;
  const others = new OtherColumns(new Set(features.map((f) => f.name)));
  const guarded: FeatureExtractor<S> = {
    name,
    features,
    datagrams: e.datagrams,
    init(flow: FlowState): S {
      let s: S;
      try {
        s = e.init(flow);
      } catch (err) {
        throw threwIn(name, "init", err, flow);
      }
      refusePromise(name, "init", s, flow);
      return s;
    },
    update(s: S, p: PacketView, flow: FlowState, dir: 0 | 1): void {
      let r: unknown;
      try {
        r = e.update(s, p, flow, dir);
      } catch (err) {
        throw threwIn(name, "update", err, flow);
      }
      if (r !== undefined) refusePromise(name, "update", r, flow);
    },
    finish(s: S, flow: FlowState, out: FlowRecord): void {
      let r: unknown;
      try {
        others.take(out);
        r = e.finish(s, flow, out);
      } catch (err) {
        throw threwIn(name, "finish", err, flow);
      }
      if (r !== undefined) refusePromise(name, "finish", r, flow);
      const overwritten = others.changed(out);
      if (overwritten !== null) {
        throw new ExtractorError(
          name,
          "finish",
          `changed ${overwritten}, a column of another group (declare a column of its own) ${flowAt(flow)}`,
        );
      }
      checkValues(name, "finish", features, out, flowAt(flow));
    },
  };
  if (e.finalize !== undefined) {
    guarded.finalize = (records: FlowRecord[]): void => {
      try {
        e.finalize!(records);
      } catch (err) {
        throw threwIn(name, "finalize", err, null);
      }
      for (const r of records) checkValues(name, "finalize", features, r, recordAt(r));
    };
  }
  return guarded;
}

/** The error of `call` of extractor `name` that threw `err` (on `flow`, when there is one). */
function threwIn(name: string, call: string, err: unknown, flow: FlowState | null): ExtractorError {
  return new ExtractorError(name, call, flow === null ? thrown(err) : `${thrown(err)} ${flowAt(flow)}`);
}

/** Throws when `call` returned a promise: what it does would come after the pipeline went on (a state made
 * later, a record written before its values). */
function refusePromise(name: string, call: string, r: unknown, flow: FlowState): void {
  if (isThenable(r)) {
    throw new ExtractorError(name, call, `returned a promise: its work would come too late ${flowAt(flow)}`);
  }
}

/** Each declared column `call` wrote is null or of its declared type, with nothing inside a list or dict that
 * no output can write; `undefined` becomes null. `where` says which flow, for a message. */
function checkValues(
  name: string,
  call: string,
  features: readonly FeatureSpec[],
  out: FlowRecord,
  where: string,
): void {
  for (let i = 0; i < features.length; i++) {
    const f = features[i];
    const v = out[f.name] as unknown;
    if (v === null) continue;
    // `out.x = list[0]` of an empty list: no value, as the record's null already says.
    if (v === undefined) out[f.name] = null;
    else if (!fits(f.type, v)) {
      const exact = f.type === "int" && Number.isInteger(v) ? " (an integer within 2^53, exact in JSON)" : "";
      throw new ExtractorError(
        name,
        call,
        `wrote ${shortValue(v)} to ${f.name}, declared ${f.type}${exact} ${where}`,
      );
    } else if (typeof v === "object") {
      const bad = unwritable(v);
      if (bad !== null) {
        const what = bad === "a cycle" ? "a list or dict that holds itself" : shortValue(bad);
        throw new ExtractorError(
          name,
          call,
          `wrote ${what} inside ${f.name}, which no output can write ${where}`,
        );
      }
    }
  }
}
