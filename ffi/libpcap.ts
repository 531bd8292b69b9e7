/**
 * libpcap through `Deno.dlopen`: offline reading (files, `-` for stdin, file descriptors), BPF filters, live
 * capture, interface listing and writing pcap files.
 *
 * Every reader hands packets on as a {@linkcode PacketCallback}: one call per packet with a view into a reused
 * scratch buffer (valid only during the call). Packets are pulled with one `pcap_next_ex` FFI call each; the
 * `struct pcap_pkthdr` and the packet bytes are read through `ArrayBuffer`s over libpcap's own memory that are
 * only rebuilt when libpcap moves its buffer, so the hot loop allocates nothing.
 *
 * Needs `--allow-ffi` (and `--allow-env` to honour `JJ_LIBPCAP`, `--allow-read` for files).
 *
 * @module
 */

import type { PacketCallback } from "../lib/source.ts";
import { formatIp } from "../lib/addr.ts";

// ---------------------------------------------------------------------------------------------------------
// constants

const PCAP_ERRBUF_SIZE = 256;
const PCAP_TSTAMP_PRECISION_MICRO = 0;
const PCAP_TSTAMP_PRECISION_NANO = 1;
const PCAP_NETMASK_UNKNOWN = 0xffffffff;
const PCAP_ERROR = -1;
const PCAP_ERROR_BREAK = -2;
const PCAP_ERROR_NO_SUCH_DEVICE = -5;
const PCAP_ERROR_PERM_DENIED = -8;
const PCAP_ERROR_IFACE_NOT_UP = -9;
const PCAP_ERROR_PROMISC_PERM_DENIED = -11;
/** Largest snapshot length libpcap accepts (MAXIMUM_SNAPLEN): the default, and the bound of `--snaplen`. */
export const MAX_SNAPLEN = 262144;
const TWO_32 = 4294967296;

// ---------------------------------------------------------------------------------------------------------
// loading

/**
 * The `Deno.dlopen` definitions of the libpcap functions bound here.
 *
 * @example
 * ```ts
 * import { PCAP_SYMBOLS } from "./libpcap.ts";
 * console.log(Object.keys(PCAP_SYMBOLS).length);
 * ```
 */
export const PCAP_SYMBOLS = {
  pcap_lib_version: { parameters: [], result: "pointer" },
  pcap_major_version: { parameters: ["pointer"], result: "i32" },
  pcap_open_offline_with_tstamp_precision: { parameters: ["buffer", "u32", "buffer"], result: "pointer" },
  pcap_fopen_offline_with_tstamp_precision: { parameters: ["pointer", "u32", "buffer"], result: "pointer" },
  pcap_open_dead_with_tstamp_precision: { parameters: ["i32", "i32", "u32"], result: "pointer" },
  pcap_create: { parameters: ["buffer", "buffer"], result: "pointer" },
  pcap_set_snaplen: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_promisc: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_timeout: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_immediate_mode: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_buffer_size: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_tstamp_precision: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_get_tstamp_precision: { parameters: ["pointer"], result: "i32" },
  pcap_activate: { parameters: ["pointer"], result: "i32" },
  pcap_setnonblock: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  pcap_get_selectable_fd: { parameters: ["pointer"], result: "i32" },
  pcap_datalink: { parameters: ["pointer"], result: "i32" },
  pcap_snapshot: { parameters: ["pointer"], result: "i32" },
  pcap_compile: { parameters: ["pointer", "buffer", "buffer", "i32", "u32"], result: "i32" },
  pcap_lookupnet: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "i32" },
  pcap_setfilter: { parameters: ["pointer", "buffer"], result: "i32" },
  pcap_offline_filter: { parameters: ["buffer", "pointer", "pointer"], result: "i32" },
  /** `pcap_offline_filter` on a header and packet held in JS memory (see {@linkcode BpfPacketFilter}). */
  pcap_offline_filter_bytes: {
    name: "pcap_offline_filter",
    parameters: ["buffer", "buffer", "buffer"],
    result: "i32",
  },
  pcap_freecode: { parameters: ["buffer"], result: "void" },
  pcap_geterr: { parameters: ["pointer"], result: "pointer" },
  pcap_statustostr: { parameters: ["i32"], result: "pointer" },
  pcap_next_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  pcap_dispatch: { parameters: ["pointer", "i32", "function", "usize"], result: "i32" },
  pcap_breakloop: { parameters: ["pointer"], result: "void" },
  pcap_stats: { parameters: ["pointer", "buffer"], result: "i32" },
  pcap_close: { parameters: ["pointer"], result: "void" },
  pcap_findalldevs: { parameters: ["buffer", "buffer"], result: "i32" },
  pcap_freealldevs: { parameters: ["pointer"], result: "void" },
  pcap_dump_open: { parameters: ["pointer", "buffer"], result: "pointer" },
  pcap_dump: { parameters: ["pointer", "buffer", "buffer"], result: "void" },
  pcap_dump_flush: { parameters: ["pointer"], result: "i32" },
  pcap_dump_close: { parameters: ["pointer"], result: "void" },
  pcap_dump_file: { parameters: ["pointer"], result: "pointer" },
} as const;

const LIBC_SYMBOLS = {
  fdopen: { parameters: ["i32", "buffer"], result: "pointer" },
  fopen: { parameters: ["buffer", "buffer"], result: "pointer" },
  setvbuf: { parameters: ["pointer", "buffer", "i32", "usize"], result: "i32" },
  ftell: { parameters: ["pointer"], result: "i64" },
  fmemopen: { parameters: ["buffer", "usize", "buffer"], result: "pointer" },
  fclose: { parameters: ["pointer"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ferror: { parameters: ["pointer"], result: "i32" },
} as const;

/** The libpcap functions this module binds, as `Deno.dlopen` exposes them. */
export type LibpcapSymbols = Deno.DynamicLibrary<typeof PCAP_SYMBOLS>["symbols"];

/**
 * A loaded libpcap: the file it came from and its bound functions.
 *
 * @example
 * ```ts
 * import { loadLibpcap } from "./libpcap.ts";
 * const lib = loadLibpcap();
 * console.log(lib.path);
 * ```
 */
export interface Libpcap {
  /** What was passed to `dlopen` (a path or a bare soname). */
  readonly path: string;
  /** The bound libpcap functions. */
  readonly symbols: LibpcapSymbols;
}

const FIX_HINT = "install libpcap0.8 (apt-get install -y libpcap0.8) or set JJ_LIBPCAP=/path/to/libpcap.so";

/**
 * Thrown by {@linkcode loadLibpcap} when no libpcap could be loaded. The message is one line naming the fix;
 * `tried` lists every candidate with the reason it failed.
 *
 * @example
 * ```ts
 * import { LibpcapUnavailableError, loadLibpcap } from "./libpcap.ts";
 * try {
 *   loadLibpcap();
 * } catch (e) {
 *   if (e instanceof LibpcapUnavailableError) console.error(e.message);
 * }
 * ```
 */
export class LibpcapUnavailableError extends Error {
  /** Each candidate tried, as `candidate: reason`. */
  readonly tried: readonly string[];
  /**
   * Creates the error.
   *
   * @param message one-line description naming the fix
   * @param tried candidates and why each failed
   */
  constructor(message: string, tried: readonly string[] = []) {
    super(message);
    this.name = "LibpcapUnavailableError";
    this.tried = tried;
  }
}

/**
 * An error reported by libpcap (open, filter compile, activation, read); the message is libpcap's own text.
 *
 * @example
 * ```ts
 * import { PcapError, PcapOfflineReader } from "./libpcap.ts";
 * try {
 *   PcapOfflineReader.open("/nonexistent.pcap");
 * } catch (e) {
 *   if (e instanceof PcapError) console.error(e.message);
 * }
 * ```
 */
export class PcapError extends Error {
  /** libpcap status code when there is one (e.g. -8 for PCAP_ERROR_PERM_DENIED), else `null`. */
  readonly status: number | null;
  /**
   * Creates the error.
   *
   * @param message libpcap's message
   * @param status libpcap status code, if any
   */
  constructor(message: string, status: number | null = null) {
    super(message);
    this.name = "PcapError";
    this.status = status;
  }
}

/**
 * A BPF filter that libpcap does not compile: a usage error, where other {@linkcode PcapError}s are failures of
 * the capture.
 *
 * @example
 * ```ts
 * import { PcapFilterError } from "./libpcap.ts";
 * console.log(new PcapFilterError("bad filter").name); // PcapFilterError
 * ```
 */
export class PcapFilterError extends PcapError {
  /**
   * Creates the error.
   *
   * @param message what libpcap said about the filter
   */
  constructor(message: string) {
    super(message);
    this.name = "PcapFilterError";
  }
}

function candidatePaths(): string[] {
  const out: string[] = [];
  if (Deno.build.os === "darwin") {
    out.push("libpcap.dylib", "libpcap.A.dylib", "/usr/lib/libpcap.dylib", "/usr/lib/libpcap.A.dylib");
    for (
      const d of [
        "/opt/homebrew/opt/libpcap/lib",
        "/usr/local/opt/libpcap/lib",
        "/opt/homebrew/lib",
        "/usr/local/lib",
      ]
    ) {
      out.push(`${d}/libpcap.dylib`, `${d}/libpcap.A.dylib`);
    }
    return out;
  }
  const names = ["libpcap.so.1", "libpcap.so", "libpcap.so.0.8"];
  out.push(...names);
  const dirs = [
    "/usr/lib/x86_64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/lib64",
    "/usr/lib",
    "/lib",
    "/usr/local/lib",
    "/usr/local/lib64",
  ];
  for (const d of dirs) for (const n of names) out.push(`${d}/${n}`);
  return out;
}

function envLibpcap(): string | null {
  try {
    const v = Deno.env.get("JJ_LIBPCAP");
    return v !== undefined && v !== "" ? v : null;
  } catch {
    return null; // no --allow-env: fall back to the usual names
  }
}

let cached: Libpcap | null = null;
let cachedError: LibpcapUnavailableError | null = null;

/**
 * Loads libpcap (once; later calls return the same object). With `$JJ_LIBPCAP` set, loads that library only;
 * otherwise tries the usual sonames and library directories (x86_64 and aarch64 Linux, macOS).
 *
 * @throws {LibpcapUnavailableError} when none loads, or when `$JJ_LIBPCAP` names a library that does not load
 * (the user asked for that one, so another would be a silent surprise).
 * @example
 * ```ts
 * import { loadLibpcap } from "./libpcap.ts";
 * const { symbols } = loadLibpcap();
 * ```
 */
export function loadLibpcap(): Libpcap {
  if (cached) return cached;
  if (cachedError) throw cachedError;
  const tried: string[] = [];
  const env = envLibpcap();
  const candidates = env !== null ? [env] : candidatePaths();
  for (const path of candidates) {
    try {
      const lib = Deno.dlopen(path, PCAP_SYMBOLS);
      cached = { path, symbols: lib.symbols };
      return cached;
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        // Permission errors are not cached: the caller may be retried with --allow-ffi in another process only.
        throw new LibpcapUnavailableError(
          `cannot load libpcap: run with --allow-ffi (${(e as Error).message})`,
          [
            `${path}: ${(e as Error).message}`,
          ],
        );
      }
      tried.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  cachedError = env !== null
    ? new LibpcapUnavailableError(
      `cannot load JJ_LIBPCAP=${env}: ${dlopenReason(env, tried[0]?.slice(env.length + 2) ?? "?")} ` +
        "(point JJ_LIBPCAP at a libpcap shared library, or unset it to use the system's)",
      tried,
    )
    : new LibpcapUnavailableError(`libpcap not found: ${FIX_HINT}`, tried);
  throw cachedError;
}

/**
 * The reason in a `Deno.dlopen` error, on one line: without its repeated "Could not open library: " and the path,
 * which the message names already.
 */
function dlopenReason(path: string, message: string): string {
  let text = message.replace(/\s*\n\s*/g, " ").trim();
  while (text.startsWith("Could not open library: ")) text = text.slice("Could not open library: ".length);
  if (text.startsWith(`${path}: `)) text = text.slice(path.length + 2);
  return text;
}

/**
 * Like {@linkcode loadLibpcap} but returns `null` instead of throwing when no libpcap is found, so callers can
 * fall back to the built-in reader. A `$JJ_LIBPCAP` that does not load still throws: the user asked for that
 * library, and reading without it would hide the mistake.
 *
 * @throws {LibpcapUnavailableError} when `$JJ_LIBPCAP` is set and cannot be loaded.
 * @example
 * ```ts
 * import { tryLoadLibpcap } from "./libpcap.ts";
 * if (tryLoadLibpcap() === null) console.log("no libpcap here");
 * ```
 */
export function tryLoadLibpcap(): Libpcap | null {
  try {
    return loadLibpcap();
  } catch (e) {
    // cachedError is the not-found error (a missing --allow-ffi is not cached and stays a plain null)
    if (e === cachedError && envLibpcap() !== null) throw e;
    return null;
  }
}

/**
 * libpcap's version string (`pcap_lib_version()`), e.g. `libpcap version 1.10.3 (with TPACKET_V3)`.
 *
 * @example
 * ```ts
 * import { libpcapVersion } from "./libpcap.ts";
 * console.log(libpcapVersion());
 * ```
 */
export function libpcapVersion(): string {
  const p = loadLibpcap().symbols.pcap_lib_version();
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

/**
 * Compiles `filter` for `linkType` (Ethernet by default) without a capture, to check it before any input is read;
 * returns libpcap's error message, or null when it compiles. Throws when libpcap cannot be loaded.
 *
 * @example
 * ```ts
 * import { filterError } from "./libpcap.ts";
 * console.log(filterError("tcp port 443")); // null
 * console.log(filterError("tcp port") !== null); // true
 * ```
 */
export function filterError(filter: string, linkType = 1): string | null {
  const sym = loadLibpcap().symbols;
  const dead = sym.pcap_open_dead_with_tstamp_precision(linkType, MAX_SNAPLEN, PCAP_TSTAMP_PRECISION_NANO);
  if (dead === null) throw new PcapError("pcap_open_dead failed");
  try {
    const prog = new Uint8Array(16);
    const error = compileFilter(sym, dead, filter, PCAP_NETMASK_UNKNOWN, prog);
    if (error === null) sym.pcap_freecode(prog);
    return error;
  } finally {
    sym.pcap_close(dead);
  }
}

/**
 * A BPF filter run on packets another reader read (the built-in one, which reads stdin and pipes as their bytes
 * come, and gzip): libpcap compiles it for each link type met, as its own reader would for a file's, and runs it
 * on each packet (`pcap_offline_filter`). `close` frees the compiled programs.
 *
 * @example
 * ```ts
 * import { BpfPacketFilter } from "./libpcap.ts";
 * const udp = new BpfPacketFilter("udp");
 * const frame = new Uint8Array(42);
 * frame.set([0x08, 0x00, 0x45], 12); // Ethernet, IPv4 with a 20-byte header
 * frame[23] = 17; // protocol UDP
 * console.log(udp.matches(frame, 0, 42, 42, 1)); // true
 * udp.close();
 * ```
 */
export class BpfPacketFilter {
  readonly #sym: LibpcapSymbols;
  readonly #filter: string;
  /** Compiled programs by key (see `#lastKey`). */
  readonly #progs = new Map<number, Uint8Array<ArrayBuffer>>();
  /** The last program's key: link type times two, plus one for big-endian BSD loopback. */
  #lastKey = -1;
  #lastProg: Uint8Array<ArrayBuffer> | null = null;
  /** A `struct pcap_pkthdr` (LP64: two 8-byte time fields, caplen, len): BPF reads only the lengths. */
  readonly #hdr = new Uint32Array(6);

  /** Loads libpcap (throws when it cannot be loaded); the filter is compiled at the first packet of each link type. */
  constructor(filter: string) {
    this.#sym = loadLibpcap().symbols;
    this.#filter = filter;
  }

  /**
   * Whether the packet at `buf[off .. off + capLen)`, `wireLen` long on the wire, passes. Throws a
   * {@linkcode PcapFilterError} when the filter does not compile for `linkType` (libpcap's message).
   */
  matches(buf: Uint8Array, off: number, capLen: number, wireLen: number, linkType: number): boolean {
    // BSD loopback (0) and OpenBSD's enc (109) start with an address family in the byte order of the host that
    // captured (small: its non-zero byte tells the order). libpcap compiles a file's filter for that order.
    let key = linkType * 2;
    if ((linkType === 0 || linkType === 109) && capLen >= 4 && buf[off] === 0 && buf[off + 3] !== 0) key++;
    let prog = this.#lastProg;
    if (key !== this.#lastKey || prog === null) {
      prog = this.#progs.get(key) ?? this.#compile(linkType, (key & 1) === 1);
      this.#lastKey = key;
      this.#lastProg = prog;
    }
    this.#hdr[4] = capLen;
    this.#hdr[5] = wireLen;
    return this.#sym.pcap_offline_filter_bytes(prog, this.#hdr, buf.subarray(off, off + capLen)) !== 0;
  }

  /**
   * Compiles the filter as libpcap's reader does for a capture file of `linkType` written big-endian or not:
   * against a savefile handle, not `pcap_open_dead`'s, which compiles as for a live capture on this host (BSD
   * loopback's `ip6` then tests Linux's AF_INET6 only, and `inbound` a socket filter's packet type). libpcap also
   * maps the header's LINKTYPE_ value to its DLT_ one (LINKTYPE_RAW 101 is DLT_RAW).
   */
  #compile(linkType: number, bigEndian: boolean): Uint8Array<ArrayBuffer> {
    const sym = this.#sym;
    const header = new DataView(new ArrayBuffer(24));
    const le = !bigEndian;
    header.setUint32(0, 0xa1b2c3d4, le);
    header.setUint16(4, 2, le);
    header.setUint16(6, 4, le);
    header.setUint32(16, MAX_SNAPLEN, le);
    header.setUint32(20, linkType, le);
    // A savefile of only its header, read from memory: no temporary file (no writable directory needed).
    const bytes = new Uint8Array(header.buffer);
    const c = loadLibc();
    const fp = c.fmemopen(bytes, BigInt(bytes.length), cstr("rb"));
    if (fp === null) throw new PcapError("fmemopen failed");
    const errbuf = new Uint8Array(PCAP_ERRBUF_SIZE);
    const h = sym.pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (h === null) {
      c.fclose(fp);
      throw new PcapFilterError(
        `bad filter ${JSON.stringify(this.#filter)}: link type ${linkType}: ${errbufText(errbuf)}`,
      );
    }
    try {
      const prog = new Uint8Array(16);
      const error = compileFilter(sym, h, this.#filter, PCAP_NETMASK_UNKNOWN, prog);
      if (error !== null) throw new PcapFilterError(`bad filter ${JSON.stringify(this.#filter)}: ${error}`);
      this.#progs.set(linkType * 2 + (bigEndian ? 1 : 0), prog);
      return prog;
    } finally {
      sym.pcap_close(h); // fcloses fp
    }
  }

  /** Frees the compiled programs (idempotent); the filter compiles again if used after. */
  close(): void {
    for (const prog of this.#progs.values()) this.#sym.pcap_freecode(prog);
    this.#progs.clear();
    this.#lastKey = -1;
    this.#lastProg = null;
  }
}

type LibcSymbols = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];
let libc: LibcSymbols | null = null;

function loadLibc(): LibcSymbols {
  if (libc) return libc;
  const names = Deno.build.os === "darwin" ? ["libSystem.B.dylib", "/usr/lib/libSystem.B.dylib"] : [
    "libc.so.6",
    "libc.so",
  ];
  let last: unknown = null;
  for (const n of names) {
    try {
      libc = Deno.dlopen(n, LIBC_SYMBOLS).symbols;
      return libc;
    } catch (e) {
      last = e;
    }
  }
  throw new PcapError(`cannot load the C library for fdopen: ${last instanceof Error ? last.message : last}`);
}

/** stdio's buffer for a capture file libpcap reads (see {@linkcode openBuffered}). */
const STDIO_BUFFER = 256 << 10;
const IOFBF = 0;

/**
 * Opens a capture file for libpcap through a stream with `buffer` as its buffer (256 KiB; it must outlive the
 * handle): pcap_open_offline's own stream reads 4 KiB at a time (the file system's block size), one system call
 * each, 53,000 for a 214 MB capture. Larger buffers than 256 KiB made the kernel's copy slower on this machine
 * class (see `READ_AT` in lib/capture_file.ts). Null when the file cannot be opened or read as a capture: the
 * caller then opens it with pcap_open_offline, whose message says why.
 */
function openBuffered(
  sym: LibpcapSymbols,
  path: string,
  errbuf: Uint8Array,
  buffer: Uint8Array<ArrayBuffer>,
): { handle: Deno.PointerObject; stream: Deno.PointerObject } | null {
  let c: LibcSymbols;
  try {
    c = loadLibc();
  } catch {
    return null;
  }
  const fp = c.fopen(cstr(path), cstr("rb"));
  if (fp === null) return null;
  // glibc takes the size only with a buffer given (with none, it allocates the block size).
  if (c.setvbuf(fp, buffer, IOFBF, BigInt(buffer.length)) !== 0) {
    c.fclose(fp);
    return null;
  }
  const h = sym.pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (h === null) {
    c.fclose(fp);
    return null;
  }
  return { handle: h, stream: fp }; // pcap_close fcloses fp
}

// ---------------------------------------------------------------------------------------------------------
// helpers

const encoder = new TextEncoder();

function cstr(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s + "\0");
}

function errbufText(buf: Uint8Array): string {
  let end = buf.indexOf(0);
  if (end < 0) end = buf.length;
  return new TextDecoder().decode(buf.subarray(0, end));
}

function geterr(sym: LibpcapSymbols, handle: Deno.PointerValue): string {
  const p = sym.pcap_geterr(handle);
  return p === null ? "unknown libpcap error" : Deno.UnsafePointerView.getCString(p);
}

function statusText(sym: LibpcapSymbols, status: number): string {
  const p = sym.pcap_statustostr(status);
  return p === null ? `libpcap status ${status}` : Deno.UnsafePointerView.getCString(p);
}

function ptrFromHalves(lo: number, hi: number): Deno.PointerValue {
  return Deno.UnsafePointer.create((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
}

/**
 * Compiles `filter` (optimized) into `prog`, a 16-byte `struct bpf_program { u_int bf_len; struct bpf_insn
 * *bf_insns; }` to free with `pcap_freecode`; returns libpcap's message when it does not compile, else null.
 */
function compileFilter(
  sym: LibpcapSymbols,
  handle: Deno.PointerValue,
  filter: string,
  netmask: number,
  prog: Uint8Array<ArrayBuffer>,
): string | null {
  return sym.pcap_compile(handle, prog, cstr(filter), 1, netmask) !== 0 ? geterr(sym, handle) : null;
}

/**
 * Compiles `filter` and installs it on `handle`; throws PcapError with libpcap's message. `netmask` (network
 * byte order, as `pcap_lookupnet` gives it) is what `ip broadcast` needs; files have none.
 */
function applyFilter(
  sym: LibpcapSymbols,
  handle: Deno.PointerObject,
  filter: string,
  netmask: number = PCAP_NETMASK_UNKNOWN,
): void {
  const prog = new Uint8Array(16);
  const error = compileFilter(sym, handle, filter, netmask, prog);
  if (error !== null) throw new PcapFilterError(`bad filter ${JSON.stringify(filter)}: ${error}`);
  const rc = sym.pcap_setfilter(handle, prog);
  const msg = rc !== 0 ? geterr(sym, handle) : "";
  sym.pcap_freecode(prog);
  if (rc !== 0) throw new PcapError(`cannot set filter ${JSON.stringify(filter)}: ${msg}`);
}

/**
 * The IPv4 netmask of `iface` (`pcap_lookupnet`), for filters such as `ip broadcast`; PCAP_NETMASK_UNKNOWN for
 * `any` (no single network) and for an interface without an IPv4 address, where such filters then fail to
 * compile with libpcap's own message.
 */
function liveNetmask(sym: LibpcapSymbols, iface: string): number {
  if (iface === "any") return PCAP_NETMASK_UNKNOWN;
  const net = new Uint32Array(1);
  const mask = new Uint32Array(1);
  const errbuf = new Uint8Array(PCAP_ERRBUF_SIZE);
  return sym.pcap_lookupnet(cstr(iface), net, mask, errbuf) === 0 ? mask[0] : PCAP_NETMASK_UNKNOWN;
}

/**
 * The per-packet core shared by offline and live readers: `pcap_next_ex` into a reusable out-pointer buffer,
 * the header and data read through cached `ArrayBuffer`s over libpcap's memory, the data copied into a
 * JS-owned scratch buffer (so a view kept past its callback can never point at freed memory).
 */
class NextExPump {
  readonly #sym: LibpcapSymbols;
  readonly #handle: Deno.PointerObject;
  /** true when libpcap reuses one data buffer (savefiles); false for live rings where every packet moves. */
  readonly #stableData: boolean;
  readonly #out = new Uint8Array(16);
  readonly #out32 = new Uint32Array(this.#out.buffer);
  readonly #outHdr = this.#out.subarray(0, 8);
  readonly #outData = this.#out.subarray(8, 16);
  #hLo = -1;
  #hHi = -1;
  #hdrU32 = new Uint32Array(6);
  #hdrI32 = new Int32Array(6);
  #dLo = -1;
  #dHi = -1;
  #data = new Uint8Array(0);
  /** `#data.subarray(0, len)` by `len`, so copying a packet allocates nothing after warm-up. */
  #dataSubs: Uint8Array[] = [];
  /** `scratch.subarray(0, len)` by `len`, for the live copy path. */
  #scratchSubs: Uint8Array[] = [];
  scratch = new Uint8Array(65536);
  /** Filled by {@linkcode next}. */
  ts = 0;
  tsSec = 0;
  tsFrac = 0;
  /** `tsFrac` in nanoseconds (out of range when the header's field is: the consumer then takes `ts`). */
  tsNsec = 0;
  capLen = 0;
  wireLen = 0;
  /**
   * Units of the header's fractional field per second (1e9 nano, 1e6 micro). The time is `sec + frac / div`, as
   * the built-in reader computes it: `frac * 1e-9` rounds differently (1e-6 s came out 1.0000000000000002e-6).
   */
  readonly fracDiv: number;
  /**
   * A compiled filter applied here rather than inside libpcap (`pcap_offline_filter`), so that the packets it
   * leaves out are counted (in {@linkcode filtered}) and the summary accounts for every record of a file.
   */
  filterProg: Uint8Array<ArrayBuffer> | null = null;
  /** Packets {@linkcode filterProg} left out. */
  filtered = 0;
  #fhLo = -1;
  #fhHi = -1;
  #fHdr: Deno.PointerValue = null;
  #fdLo = -1;
  #fdHi = -1;
  #fData: Deno.PointerValue = null;

  /** A savefile's format: classic pcap (its major version 2) or pcapng (1); neither for a live capture. */
  readonly #classic: boolean;
  readonly #pcapng: boolean;

  constructor(sym: LibpcapSymbols, handle: Deno.PointerObject, stableData: boolean, nano: boolean) {
    this.#sym = sym;
    this.#handle = handle;
    this.#stableData = stableData;
    this.fracDiv = nano ? 1e9 : 1e6;
    const major = stableData ? sym.pcap_major_version(handle) : 0;
    this.#classic = major === 2;
    this.#pcapng = major === 1;
  }

  /** One `pcap_next_ex`; on 1 the packet is in `scratch[0 .. capLen)`. Returns pcap_next_ex's status. */
  next(): number {
    const o = this.#out32;
    for (;;) {
      const r = this.#sym.pcap_next_ex(this.#handle, this.#outHdr, this.#outData);
      if (r !== 1) return r;
      const prog = this.filterProg;
      if (prog === null) break;
      // A savefile's header and data buffers stay where they are: their pointer objects are made once.
      if (o[0] !== this.#fhLo || o[1] !== this.#fhHi) {
        this.#fhLo = o[0];
        this.#fhHi = o[1];
        this.#fHdr = ptrFromHalves(o[0], o[1]);
      }
      if (o[2] !== this.#fdLo || o[3] !== this.#fdHi) {
        this.#fdLo = o[2];
        this.#fdHi = o[3];
        this.#fData = ptrFromHalves(o[2], o[3]);
      }
      if (this.#sym.pcap_offline_filter(prog, this.#fHdr, this.#fData) !== 0) break;
      this.filtered++;
    }
    if (o[0] !== this.#hLo || o[1] !== this.#hHi) {
      this.#hLo = o[0];
      this.#hHi = o[1];
      const ab = Deno.UnsafePointerView.getArrayBuffer(ptrFromHalves(o[0], o[1])!, 24);
      this.#hdrU32 = new Uint32Array(ab);
      this.#hdrI32 = new Int32Array(ab);
    }
    const h = this.#hdrU32;
    const cap = h[4];
    this.capLen = cap;
    this.wireLen = h[5];
    // A classic pcap's seconds are unsigned 32 bits (as the built-in reader and tshark read them), which libpcap
    // sign-extends: from 2038 on its times came out before 1970.
    const sec = this.#classic ? h[0] : h[0] + this.#hdrI32[1] * TWO_32;
    // tv_usec is a 64-bit long; only out-of-range values (fuzzed files) use the high half
    const frac = h[2] + this.#hdrI32[3] * TWO_32;
    // A pcapng simple packet block has no time, which libpcap gives as 0: it takes the last packet's, as in the
    // built-in reader (a time of 0 ended its flow and started one of its own). A packet block stamped exactly 0
    // cannot be told from it here, and takes it too (README).
    if (!this.#pcapng || sec !== 0 || frac !== 0) {
      this.tsSec = sec;
      this.tsFrac = frac;
      this.ts = sec + frac / this.fracDiv;
      this.tsNsec = this.fracDiv === 1e9 ? frac : frac * 1000;
    }
    if (cap > this.scratch.length) this.#growScratch(cap);
    if (cap === 0) return 1;
    if (this.#stableData) {
      if (o[2] !== this.#dLo || o[3] !== this.#dHi || cap > this.#data.length) {
        this.#dLo = o[2];
        this.#dHi = o[3];
        // Only [0, capLen) is ever read; the length just has to cover the largest packet.
        const len = Math.max(cap, MAX_SNAPLEN);
        this.#data = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptrFromHalves(o[2], o[3])!, len));
        this.#dataSubs = [];
      }
      let src = this.#dataSubs[cap];
      if (src === undefined) src = this.#dataSubs[cap] = this.#data.subarray(0, cap);
      this.scratch.set(src);
    } else {
      let dst = this.#scratchSubs[cap];
      if (dst === undefined) dst = this.#scratchSubs[cap] = this.scratch.subarray(0, cap);
      Deno.UnsafePointerView.copyInto(ptrFromHalves(o[2], o[3])!, dst);
    }
    return 1;
  }

  #growScratch(cap: number): void {
    let n = this.scratch.length;
    while (n < cap) n *= 2;
    this.scratch = new Uint8Array(n);
    this.#scratchSubs = [];
  }
}

// ---------------------------------------------------------------------------------------------------------
// offline

/** What {@linkcode PcapOfflineReader.run} returns. */
export interface PcapRunResult {
  /** Packets handed to the callback. */
  packets: number;
  /** libpcap's read error (e.g. a truncated file) after the last good packet, or `null` at a clean end. */
  error: string | null;
}

/**
 * Reads a pcap or pcapng file through libpcap, with nanosecond timestamps and an optional BPF filter.
 *
 * @example
 * ```ts
 * import { PcapOfflineReader } from "./libpcap.ts";
 * const r = PcapOfflineReader.open("capture.pcap", "tcp port 443");
 * let bytes = 0;
 * const { packets, error } = r.run((_ts, _buf, _off, _cap, wire) => {
 *   bytes += wire;
 * });
 * r.close();
 * console.log(packets, bytes, error);
 * ```
 */
export class PcapOfflineReader {
  readonly #sym: LibpcapSymbols;
  #handle: Deno.PointerObject | null;
  /** The stdio buffer of the handle's stream (see `openBuffered`), kept alive as long as the reader. */
  #stdio: Uint8Array | null = null;
  /** The handle's stream when `openBuffered` opened it (its position is the bytes read), else null. */
  #stream: Deno.PointerObject | null = null;
  readonly #pump: NextExPump;
  #stop = false;
  /** The capture's link type (`pcap_datalink`, a DLT_ value). */
  readonly linkType: number;
  /** The capture's snapshot length. */
  readonly snaplen: number;

  private constructor(sym: LibpcapSymbols, handle: Deno.PointerObject) {
    this.#sym = sym;
    this.#handle = handle;
    this.linkType = sym.pcap_datalink(handle);
    this.snaplen = sym.pcap_snapshot(handle);
    this.#pump = new NextExPump(sym, handle, true, true);
  }

  /**
   * Opens `path` (`-` reads standard input) and installs `filter` when given. With `countFiltered`, the filter
   * is applied by {@linkcode run} instead (`pcap_offline_filter`), which counts what it leaves out in
   * {@linkcode filtered}; without it, libpcap applies it, also to direct calls on {@linkcode handle}
   * (`pcap_dispatch`).
   *
   * @throws {PcapError} with libpcap's message when the file cannot be opened or the filter does not compile.
   * @throws {LibpcapUnavailableError} when libpcap cannot be loaded.
   * @example
   * ```ts
   * import { PcapOfflineReader } from "./libpcap.ts";
   * const r = PcapOfflineReader.open("capture.pcapng", "udp", { countFiltered: true });
   * r.run(() => {});
   * console.log(r.filtered);
   * r.close();
   * ```
   */
  static open(path: string, filter?: string, options: { countFiltered?: boolean } = {}): PcapOfflineReader {
    const sym = loadLibpcap().symbols;
    const errbuf = new Uint8Array(PCAP_ERRBUF_SIZE);
    const stdio = new Uint8Array(STDIO_BUFFER);
    const buffered = openBuffered(sym, path, errbuf, stdio);
    const h = buffered?.handle ??
      sym.pcap_open_offline_with_tstamp_precision(cstr(path), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (h === null) throw new PcapError(errbufText(errbuf));
    const reader = PcapOfflineReader.#finish(sym, h, filter, options.countFiltered === true);
    if (buffered !== null) {
      reader.#stdio = stdio;
      reader.#stream = buffered.stream;
    }
    return reader;
  }

  /**
   * Opens a capture streamed on file descriptor `fd` (e.g. 0 for stdin, or a pipe). The descriptor is
   * duplicated first, so closing the reader leaves `fd` open.
   *
   * @throws {PcapError} when the stream is not a capture or the filter does not compile.
   * @example
   * ```ts
   * import { PcapOfflineReader } from "./libpcap.ts";
   * const r = PcapOfflineReader.openFd(0);
   * r.run(() => {});
   * r.close();
   * ```
   */
  static openFd(fd: number, filter?: string): PcapOfflineReader {
    const sym = loadLibpcap().symbols;
    const c = loadLibc();
    const dupFd = c.dup(fd);
    if (dupFd < 0) throw new PcapError(`cannot dup file descriptor ${fd}`);
    const fp = c.fdopen(dupFd, cstr("rb"));
    if (fp === null) {
      c.close(dupFd);
      throw new PcapError(`fdopen failed on file descriptor ${fd}`);
    }
    const errbuf = new Uint8Array(PCAP_ERRBUF_SIZE);
    const h = sym.pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (h === null) {
      c.fclose(fp);
      throw new PcapError(errbufText(errbuf));
    }
    return PcapOfflineReader.#finish(sym, h, filter, false); // pcap_close fcloses fp
  }

  static #finish(
    sym: LibpcapSymbols,
    h: Deno.PointerObject,
    filter: string | undefined,
    countFiltered: boolean,
  ): PcapOfflineReader {
    const reader = new PcapOfflineReader(sym, h);
    if (filter === undefined || filter === "") return reader;
    if (!countFiltered) {
      try {
        applyFilter(sym, h, filter);
      } catch (e) {
        reader.close();
        throw e;
      }
      return reader;
    }
    const prog = new Uint8Array(16);
    const error = compileFilter(sym, h, filter, PCAP_NETMASK_UNKNOWN, prog);
    if (error !== null) {
      reader.close();
      throw new PcapFilterError(`bad filter ${JSON.stringify(filter)}: ${error}`);
    }
    reader.#pump.filterProg = prog;
    return reader;
  }

  /** Packets the filter left out so far (counted when opened with `countFiltered`; 0 otherwise). */
  get filtered(): number {
    return this.#pump.filtered;
  }

  /** The `pcap_t *` (for {@linkcode dispatch} and other direct libpcap calls); `null` once closed. */
  get handle(): Deno.PointerObject | null {
    return this.#handle;
  }

  /**
   * libpcap's message for the last error on this capture (`pcap_geterr`), such as the one that made a direct
   * {@linkcode dispatch} return -1; "" once closed.
   *
   * @example
   * ```ts
   * import { dispatch, pcapHandlerCallback, PcapOfflineReader } from "./libpcap.ts";
   * const r = PcapOfflineReader.open("cut.pcap");
   * const cb = pcapHandlerCallback(() => {});
   * if (dispatch(r.handle, -1, cb.pointer) === -1) console.error(r.lastError());
   * cb.close();
   * r.close();
   * ```
   */
  lastError(): string {
    return this.#handle === null ? "" : geterr(this.#sym, this.#handle);
  }

  /**
   * Reads packets (all, or at most `maxPackets`), calling `cb` for each. A read error (truncated or corrupt
   * file) ends the run and is returned in `error` after every packet before it has been delivered.
   *
   * @example
   * ```ts
   * import { PcapOfflineReader } from "./libpcap.ts";
   * const r = PcapOfflineReader.open("capture.pcap");
   * const first10 = r.run(() => {}, 10);
   * r.close();
   * ```
   */
  run(cb: PacketCallback, maxPackets: number = Infinity): PcapRunResult {
    const h = this.#handle;
    if (h === null) throw new PcapError("reader is closed");
    const pump = this.#pump;
    const lt = this.linkType;
    let n = 0;
    let error: string | null = null;
    this.#stop = false;
    while (n < maxPackets && !this.#stop) {
      const r = pump.next();
      if (r !== 1) {
        if (r === PCAP_ERROR) error = geterr(this.#sym, h);
        break; // PCAP_ERROR_BREAK: end of file
      }
      n++;
      cb(pump.ts, pump.scratch, 0, pump.capLen, pump.wireLen, lt, pump.tsNsec);
    }
    return { packets: n, error };
  }

  /**
   * Makes a running {@linkcode run} return after the current packet (call it from the callback).
   *
   * @example
   * ```ts
   * import { PcapOfflineReader } from "./libpcap.ts";
   * const r = PcapOfflineReader.open("capture.pcap");
   * r.run((ts) => {
   *   if (ts > 1700000000) r.stop();
   * });
   * r.close();
   * ```
   */
  stop(): void {
    this.#stop = true;
  }

  /**
   * Closes the capture (idempotent).
   *
   * @example
   * ```ts
   * import { PcapOfflineReader } from "./libpcap.ts";
   * PcapOfflineReader.open("capture.pcap").close();
   * ```
   */
  close(): void {
    if (this.#handle !== null) {
      this.#sym.pcap_close(this.#handle);
      this.#handle = null;
    }
    // Only now, with the stream closed, may its buffer be collected.
    this.#stdio = null;
    this.#stream = null;
    if (this.#pump.filterProg !== null) {
      this.#sym.pcap_freecode(this.#pump.filterProg);
      this.#pump.filterProg = null;
    }
  }

  /**
   * Bytes of the file read so far (the stream's position), for progress; 0 when unknown (a file opened by
   * pcap_open_offline itself) or once closed.
   *
   * @example
   * ```ts
   * import { PcapOfflineReader } from "./libpcap.ts";
   * const r = PcapOfflineReader.open("capture.pcap");
   * r.run(() => {});
   * console.log(r.bytesRead() > 0);
   * r.close();
   * ```
   */
  bytesRead(): number {
    if (this.#stream === null) return 0;
    const at = Number(loadLibc().ftell(this.#stream));
    return at > 0 ? at : 0;
  }

  /** Same as {@linkcode close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// live

/** Options for {@linkcode PcapLive.open}. */
export interface PcapLiveOptions {
  /** Interface name, e.g. `eth0`, `lo`, `any`. */
  iface: string;
  /** Bytes kept per packet (default 262144). */
  snaplen?: number;
  /** Promiscuous mode (default false). */
  promisc?: boolean;
  /**
   * Read timeout in ms (default 100): how long the kernel holds packets before handing them on, at most (a
   * block of Linux's ring is handed on when it is full or this old).
   */
  timeoutMs?: number;
  /**
   * Hand each packet on at once (default false). On Linux it costs the ring its blocks: one snaplen-sized slot
   * per packet (about 64 KiB at the default snaplen), so 64 MiB holds about 1,000 packets and a burst while
   * the reader is busy is dropped; without it the same buffer holds tens of thousands.
   */
  immediate?: boolean;
  /** BPF filter. */
  filter?: string;
  /** Kernel buffer size in bytes (libpcap's default when omitted). */
  bufferSize?: number;
}

/** Capture statistics from `pcap_stats`. */
export interface PcapStats {
  /** Packets received by the filter. */
  received: number;
  /** Packets dropped for lack of buffer space. */
  dropped: number;
  /** Packets dropped by the interface or driver. */
  ifDropped: number;
}

/**
 * A live capture handle in non-blocking mode: poll {@linkcode PcapLive.dispatch} (e.g. when
 * {@linkcode PcapLive.selectableFd} is readable, or on a short timer).
 *
 * @example
 * ```ts
 * import { PcapLive } from "./libpcap.ts";
 * const live = PcapLive.open({ iface: "lo", filter: "udp" });
 * const timer = setInterval(() => live.dispatch((ts, _b, _o, cap) => console.log(ts, cap)), 50);
 * setTimeout(() => {
 *   clearInterval(timer);
 *   console.log(live.stats());
 *   live.close();
 * }, 1000);
 * ```
 */
export class PcapLive {
  readonly #sym: LibpcapSymbols;
  #handle: Deno.PointerObject | null;
  readonly #pump: NextExPump;
  /** The interface captured on. */
  readonly iface: string;
  /** Link type (`pcap_datalink`). */
  readonly linkType: number;
  /** File descriptor that becomes readable when packets are waiting, or -1 (`pcap_get_selectable_fd`). */
  readonly selectableFd: number;
  /** Whether timestamps are nanosecond (otherwise microsecond). */
  readonly nanoTimestamps: boolean;
  /** libpcap's activation warning (status > 0), or `null`. */
  readonly warning: string | null;

  private constructor(
    sym: LibpcapSymbols,
    handle: Deno.PointerObject,
    iface: string,
    nano: boolean,
    warning: string | null,
  ) {
    this.#sym = sym;
    this.#handle = handle;
    this.iface = iface;
    this.linkType = sym.pcap_datalink(handle);
    this.selectableFd = sym.pcap_get_selectable_fd(handle);
    this.nanoTimestamps = nano;
    this.warning = warning;
    this.#pump = new NextExPump(sym, handle, false, nano);
  }

  /**
   * Creates, configures and activates a capture on `iface`, installs the filter and switches to non-blocking.
   *
   * @throws {PcapError} e.g. "permission denied capturing on eth0: run as root or grant CAP_NET_RAW (...)" or
   * "no such interface eth9; available: lo, eth0".
   * @example
   * ```ts
   * import { PcapLive } from "./libpcap.ts";
   * const live = PcapLive.open({ iface: "eth0", snaplen: 65535, promisc: true, timeoutMs: 50 });
   * live.close();
   * ```
   */
  static open(opts: PcapLiveOptions): PcapLive {
    const sym = loadLibpcap().symbols;
    const { iface } = opts;
    const errbuf = new Uint8Array(PCAP_ERRBUF_SIZE);
    const h = sym.pcap_create(cstr(iface), errbuf);
    if (h === null) throw new PcapError(`cannot capture on ${iface}: ${errbufText(errbuf)}`);
    let nano = false;
    let warning: string | null = null;
    try {
      sym.pcap_set_snaplen(h, opts.snaplen ?? MAX_SNAPLEN);
      sym.pcap_set_promisc(h, opts.promisc ? 1 : 0);
      sym.pcap_set_timeout(h, opts.timeoutMs ?? 100);
      if (opts.immediate) sym.pcap_set_immediate_mode(h, 1);
      if (opts.bufferSize !== undefined) sym.pcap_set_buffer_size(h, opts.bufferSize);
      sym.pcap_set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_NANO); // falls back to micro if unsupported
      const status = sym.pcap_activate(h);
      if (status < 0) throw activationError(sym, h, iface, status);
      if (status > 0) warning = `${statusText(sym, status)}: ${geterr(sym, h)}`;
      nano = sym.pcap_get_tstamp_precision(h) === PCAP_TSTAMP_PRECISION_NANO;
      if (opts.filter !== undefined && opts.filter !== "") {
        applyFilter(sym, h, opts.filter, liveNetmask(sym, iface));
      }
      if (sym.pcap_setnonblock(h, 1, errbuf) !== 0) {
        throw new PcapError(`cannot make ${iface} non-blocking: ${errbufText(errbuf)}`);
      }
    } catch (e) {
      sym.pcap_close(h);
      throw e;
    }
    return new PcapLive(sym, h, iface, nano, warning);
  }

  /** The `pcap_t *`, or `null` once closed. */
  get handle(): Deno.PointerObject | null {
    return this.#handle;
  }

  /**
   * Whole seconds of the timestamp of the packet being delivered (read it in the {@linkcode dispatch}
   * callback). With {@linkcode tsFrac}, the kernel's exact timestamp, which the callback's `ts` (a double)
   * rounds to about 0.24 µs.
   *
   * @example
   * ```ts
   * import { PcapDumper, PcapLive } from "./libpcap.ts";
   * const live = PcapLive.open({ iface: "lo" });
   * const w = PcapDumper.forLive(live, "lo.pcap");
   * live.dispatch((_ts, buf, off, cap, wire) => w.writeParts(live.tsSec, live.tsFrac, buf, off, cap, wire));
   * w.close();
   * live.close();
   * ```
   */
  get tsSec(): number {
    return this.#pump.tsSec;
  }

  /**
   * The fraction of the second of the packet being delivered: nanoseconds, or microseconds when
   * {@linkcode nanoTimestamps} is false (the unit a {@linkcode PcapDumper.forLive} dumper writes).
   *
   * @example
   * ```ts
   * import { PcapLive } from "./libpcap.ts";
   * const live = PcapLive.open({ iface: "lo" });
   * live.dispatch(() => console.log(live.tsSec, live.tsFrac));
   * live.close();
   * ```
   */
  get tsFrac(): number {
    return this.#pump.tsFrac;
  }

  /**
   * Delivers the packets waiting now (at most `max`, default all) without blocking; returns how many.
   *
   * @throws {PcapError} when libpcap reports a read error (e.g. the interface went away).
   * @example
   * ```ts
   * import { PcapLive } from "./libpcap.ts";
   * const live = PcapLive.open({ iface: "lo" });
   * const n = live.dispatch(() => {}, 1000);
   * live.close();
   * ```
   */
  dispatch(cb: PacketCallback, max: number = Infinity): number {
    const h = this.#handle;
    if (h === null) return 0;
    const pump = this.#pump;
    const lt = this.linkType;
    let n = 0;
    while (n < max) {
      const r = pump.next();
      if (r === 1) {
        n++;
        cb(pump.ts, pump.scratch, 0, pump.capLen, pump.wireLen, lt, pump.tsNsec);
        continue;
      }
      if (r === PCAP_ERROR) {
        const msg = geterr(this.#sym, h);
        // libpcap's netfilter module (nflog) reports its non-blocking socket's EAGAIN as an error: nothing is
        // waiting, as 0 from any other module.
        if (msg.includes("Resource temporarily unavailable")) break;
        throw new PcapError(`capture on ${this.iface} failed: ${msg}`, r);
      }
      if (r === PCAP_ERROR_BREAK) break; // breakLoop()
      break; // 0: nothing waiting
    }
    return n;
  }

  /**
   * Capture counters so far.
   *
   * @example
   * ```ts
   * import { PcapLive } from "./libpcap.ts";
   * const live = PcapLive.open({ iface: "lo" });
   * console.log(live.stats().dropped);
   * live.close();
   * ```
   */
  stats(): PcapStats {
    const h = this.#handle;
    if (h === null) return { received: 0, dropped: 0, ifDropped: 0 };
    const st = new Uint32Array(4);
    if (this.#sym.pcap_stats(h, st) !== 0) throw new PcapError(geterr(this.#sym, h));
    return { received: st[0], dropped: st[1], ifDropped: st[2] };
  }

  /**
   * Asks libpcap to stop the current or next read (`pcap_breakloop`); the next {@linkcode dispatch} returns early.
   *
   * @example
   * ```ts
   * import { PcapLive } from "./libpcap.ts";
   * const live = PcapLive.open({ iface: "lo" });
   * live.breakLoop();
   * live.close();
   * ```
   */
  breakLoop(): void {
    if (this.#handle !== null) this.#sym.pcap_breakloop(this.#handle);
  }

  /**
   * Closes the capture (idempotent).
   *
   * @example
   * ```ts
   * import { PcapLive } from "./libpcap.ts";
   * PcapLive.open({ iface: "lo" }).close();
   * ```
   */
  close(): void {
    if (this.#handle !== null) {
      this.#sym.pcap_close(this.#handle);
      this.#handle = null;
    }
  }

  /** Same as {@linkcode close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function activationError(
  sym: LibpcapSymbols,
  h: Deno.PointerObject,
  iface: string,
  status: number,
): PcapError {
  const permission = () =>
    new PcapError(
      `permission denied capturing on ${iface}: run as root or grant CAP_NET_RAW ` +
        `(setcap cap_net_raw,cap_net_admin=eip $(readlink -f $(which deno)))`,
      status,
    );
  if (status === PCAP_ERROR_PERM_DENIED || status === PCAP_ERROR_PROMISC_PERM_DENIED) return permission();
  if (status === PCAP_ERROR_NO_SUCH_DEVICE) {
    let names = "?";
    try {
      names = findAllDevs().map((d) => d.name).join(", ");
    } catch {
      // keep "?"
    }
    return new PcapError(`no such interface ${iface}; available: ${names}`, status);
  }
  const detail = status === PCAP_ERROR ? geterr(sym, h) : statusText(sym, status);
  // Some devices (nflog) report a refused socket as a plain error with the system's words.
  if (/Operation not permitted|Permission denied/.test(detail)) return permission();
  if (status === PCAP_ERROR_IFACE_NOT_UP) {
    const up = Deno.build.os === "linux" ? `ip link set ${iface} up` : `ifconfig ${iface} up`;
    return new PcapError(`cannot capture on ${iface}: ${detail} (bring it up: ${up})`, status);
  }
  return new PcapError(`cannot capture on ${iface}: ${detail}`, status);
}

// ---------------------------------------------------------------------------------------------------------
// devices

/** One capture device from `pcap_findalldevs`. */
export interface PcapDevice {
  /** Name to pass to {@linkcode PcapLive.open}. */
  name: string;
  /** Human-readable description, or `null`. */
  description: string | null;
  /** IPv4 and IPv6 addresses, as text. */
  addresses: string[];
  /** PCAP_IF_* flags (1 loopback, 2 up, 4 running, 8 wireless, ...). */
  flags: number;
}

/**
 * Lists the capture devices libpcap can open.
 *
 * @throws {PcapError} when libpcap fails to enumerate.
 * @example
 * ```ts
 * import { findAllDevs } from "./libpcap.ts";
 * for (const d of findAllDevs()) console.log(d.name, d.addresses.join(" "));
 * ```
 */
export function findAllDevs(): PcapDevice[] {
  const sym = loadLibpcap().symbols;
  const out = new BigUint64Array(1);
  const errbuf = new Uint8Array(PCAP_ERRBUF_SIZE);
  if (sym.pcap_findalldevs(out, errbuf) !== 0) throw new PcapError(errbufText(errbuf));
  const head = Deno.UnsafePointer.create(out[0]);
  const devs: PcapDevice[] = [];
  try {
    // struct pcap_if { next; char *name; char *description; struct pcap_addr *addresses; bpf_u_int32 flags; }
    for (let p = head; p !== null;) {
      const v = new Deno.UnsafePointerView(p);
      const name = v.getPointer(8);
      const desc = v.getPointer(16);
      const addresses: string[] = [];
      // struct pcap_addr { next; struct sockaddr *addr; *netmask; *broadaddr; *dstaddr; }
      for (let a = v.getPointer(24); a !== null;) {
        const av = new Deno.UnsafePointerView(a);
        const sa = av.getPointer(8);
        if (sa !== null) {
          const text = sockaddrText(new Deno.UnsafePointerView(sa));
          if (text !== null) addresses.push(text);
        }
        a = av.getPointer(0);
      }
      devs.push({
        name: name === null ? "" : Deno.UnsafePointerView.getCString(name),
        description: desc === null ? null : Deno.UnsafePointerView.getCString(desc),
        addresses,
        flags: v.getUint32(32),
      });
      p = v.getPointer(0);
    }
  } finally {
    sym.pcap_freealldevs(head);
  }
  return devs;
}

function sockaddrText(v: Deno.UnsafePointerView): string | null {
  const darwin = Deno.build.os === "darwin";
  const family = darwin ? v.getUint8(1) : v.getUint16(0);
  if (family === 2) return formatIp(new Uint8Array(v.getArrayBuffer(4, 4)), 0, 4);
  if (family === (darwin ? 30 : 10)) return formatIp(new Uint8Array(v.getArrayBuffer(16, 8)), 0, 6);
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// dumper

/** "cannot write PATH: reason" from libpcap's "PATH: reason" (the path once, and what was being done). */
function dumpOpenError(path: string, libpcapText: string): PcapError {
  const reason = libpcapText.startsWith(`${path}: `) ? libpcapText.slice(path.length + 2) : libpcapText;
  return new PcapError(`cannot write ${path}: ${reason}`);
}

/** Options for {@linkcode PcapDumper.open}. */
export interface PcapDumperOptions {
  /** DLT_ link type of the packets (default 1, Ethernet). */
  linkType?: number;
  /** Snapshot length written in the file header (default 262144). */
  snaplen?: number;
  /** Write a nanosecond-resolution pcap (default true). */
  nano?: boolean;
}

/**
 * Writes packets to a pcap file with `pcap_dump`.
 *
 * @example
 * ```ts
 * import { PcapDumper, PcapOfflineReader } from "./libpcap.ts";
 * const r = PcapOfflineReader.open("in.pcap", "udp");
 * const w = PcapDumper.open("udp-only.pcap", { linkType: r.linkType });
 * r.run((ts, buf, off, cap, wire) => w.write(ts, buf, off, cap, wire));
 * w.close();
 * r.close();
 * ```
 */
export class PcapDumper {
  readonly #sym: LibpcapSymbols;
  #dumper: Deno.PointerObject | null;
  #dead: Deno.PointerObject | null;
  readonly #path: string;
  readonly #hdr = new Uint8Array(24);
  readonly #hdr32 = new Uint32Array(this.#hdr.buffer);
  readonly #hdrI32 = new Int32Array(this.#hdr.buffer);
  /** Units per second of the fractional timestamp written (1e9 or 1e6). */
  readonly fracPerSecond: number;

  private constructor(
    sym: LibpcapSymbols,
    dumper: Deno.PointerObject,
    dead: Deno.PointerObject | null,
    nano: boolean,
    path: string,
  ) {
    this.#sym = sym;
    this.#dumper = dumper;
    this.#dead = dead;
    this.#path = path;
    this.fracPerSecond = nano ? 1e9 : 1e6;
  }

  /**
   * Creates `path` (overwriting it) for packets of `linkType`.
   *
   * @throws {PcapError} "cannot write PATH: reason" when the file cannot be created.
   * @example
   * ```ts
   * import { PcapDumper } from "./libpcap.ts";
   * const w = PcapDumper.open("out.pcap", { linkType: 1, nano: false });
   * w.close();
   * ```
   */
  static open(path: string, opts: PcapDumperOptions = {}): PcapDumper {
    const sym = loadLibpcap().symbols;
    const nano = opts.nano ?? true;
    const dead = sym.pcap_open_dead_with_tstamp_precision(
      opts.linkType ?? 1,
      opts.snaplen ?? MAX_SNAPLEN,
      nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO,
    );
    if (dead === null) throw new PcapError("pcap_open_dead failed");
    const d = sym.pcap_dump_open(dead, cstr(path));
    if (d === null) {
      const err = dumpOpenError(path, geterr(sym, dead));
      sym.pcap_close(dead);
      throw err;
    }
    return new PcapDumper(sym, d, dead, nano, path);
  }

  /**
   * Creates `path` with the link type, snaplen and timestamp precision of a live capture.
   *
   * @throws {PcapError} "cannot write PATH: reason" when the file cannot be created.
   * @example
   * ```ts
   * import { PcapDumper, PcapLive } from "./libpcap.ts";
   * const live = PcapLive.open({ iface: "lo" });
   * const w = PcapDumper.forLive(live, "lo.pcap");
   * live.dispatch((ts, buf, off, cap, wire) => w.write(ts, buf, off, cap, wire));
   * w.close();
   * live.close();
   * ```
   */
  static forLive(live: PcapLive, path: string): PcapDumper {
    const sym = loadLibpcap().symbols;
    const h = live.handle;
    if (h === null) throw new PcapError("live capture is closed");
    const d = sym.pcap_dump_open(h, cstr(path));
    if (d === null) throw dumpOpenError(path, geterr(sym, h));
    return new PcapDumper(sym, d, null, live.nanoTimestamps, path);
  }

  /**
   * Appends one packet; `ts` is fractional seconds since the epoch (as a {@linkcode PacketCallback} gets it). A
   * double holds today's times to about 0.24 µs only: to copy a capture's timestamps exactly, use
   * {@linkcode writeParts} with the source's whole seconds and fraction (e.g. {@linkcode PcapLive.tsSec}).
   *
   * @example
   * ```ts
   * import { PcapDumper } from "./libpcap.ts";
   * const w = PcapDumper.open("one.pcap");
   * w.write(1700000000.5, new Uint8Array(60), 0, 60, 60);
   * w.close();
   * ```
   */
  write(ts: number, buf: Uint8Array, off: number, capLen: number, wireLen: number): void {
    let sec = Math.floor(ts);
    let frac = Math.round((ts - sec) * this.fracPerSecond);
    if (frac >= this.fracPerSecond) {
      sec++;
      frac -= this.fracPerSecond;
    }
    this.writeParts(sec, frac, buf, off, capLen, wireLen);
  }

  /**
   * Appends one packet with an exact timestamp: whole seconds plus `frac` nanoseconds (or microseconds for a
   * microsecond dumper, see {@linkcode fracPerSecond}).
   *
   * @example
   * ```ts
   * import { PcapDumper } from "./libpcap.ts";
   * const w = PcapDumper.open("one.pcap");
   * w.writeParts(1700000000, 123456789, new Uint8Array(60), 0, 60, 60);
   * w.close();
   * ```
   */
  writeParts(sec: number, frac: number, buf: Uint8Array, off: number, capLen: number, wireLen: number): void {
    if (this.#dumper === null) throw new PcapError("dumper is closed");
    const cap = Math.max(0, Math.min(capLen, buf.length - off));
    const h = this.#hdr32;
    h[0] = sec >>> 0;
    this.#hdrI32[1] = Math.floor(sec / TWO_32);
    h[2] = frac >>> 0;
    h[3] = 0;
    h[4] = cap;
    h[5] = Math.max(wireLen, cap) >>> 0;
    const data = off === 0 && cap === buf.length ? buf : buf.subarray(off, off + cap);
    this.#sym.pcap_dump(this.#dumper, this.#hdr, data);
  }

  /**
   * Flushes buffered packets to the file; throws a {@linkcode PcapError} naming it when a packet could not be
   * written since the file was opened.
   *
   * @example
   * ```ts
   * import { PcapDumper } from "./libpcap.ts";
   * const w = PcapDumper.open("out.pcap");
   * w.flush();
   * w.close();
   * ```
   */
  flush(): void {
    if (this.#dumper !== null && !this.#written(this.#dumper)) throw this.#writeError();
  }

  /**
   * Flushes and tells whether every packet so far reached the file. `pcap_dump` reports nothing: a write that
   * fails inside it (a full disk) is only seen in the stream's error flag, which stays set.
   */
  #written(d: Deno.PointerObject): boolean {
    if (this.#sym.pcap_dump_flush(d) !== 0) return false;
    const file = this.#sym.pcap_dump_file(d);
    return file === null || loadLibc().ferror(file) === 0;
  }

  #writeError(): PcapError {
    return new PcapError(
      `cannot write ${this.#path}: packets were lost (a full disk, or a pipe whose reader stopped)`,
    );
  }

  /**
   * Flushes and closes the file (idempotent); throws, once closed, as {@linkcode flush} does.
   *
   * @example
   * ```ts
   * import { PcapDumper } from "./libpcap.ts";
   * PcapDumper.open("empty.pcap").close();
   * ```
   */
  close(): void {
    let written = true;
    if (this.#dumper !== null) {
      written = this.#written(this.#dumper);
      this.#sym.pcap_dump_close(this.#dumper);
      this.#dumper = null;
    }
    if (this.#dead !== null) {
      this.#sym.pcap_close(this.#dead);
      this.#dead = null;
    }
    if (!written) throw this.#writeError();
  }

  /** Same as {@linkcode close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// raw pcap_handler plumbing

/**
 * The C `pcap_handler` signature as a Deno FFI callback definition (`user` as `usize`).
 *
 * @example
 * ```ts
 * import { PCAP_HANDLER_DEFINITION } from "./libpcap.ts";
 * const cb = new Deno.UnsafeCallback(PCAP_HANDLER_DEFINITION, () => {});
 * cb.close();
 * ```
 */
export const PCAP_HANDLER_DEFINITION = {
  parameters: ["usize", "pointer", "pointer"],
  result: "void",
} as const;

/** The C `pcap_handler` signature as a Deno FFI callback definition. */
export type PcapHandlerDefinition = typeof PCAP_HANDLER_DEFINITION;

/** A JS function with the `pcap_handler` shape: the user argument, `struct pcap_pkthdr *`, packet bytes. */
export type PcapHandlerFunction = (
  user: number | bigint,
  hdr: Deno.PointerValue,
  data: Deno.PointerValue,
) => void;

/**
 * Wraps `fn` as a C `pcap_handler` (`void (*)(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)`)
 * for {@linkcode dispatch}. Call `.close()` on the result when done.
 *
 * @example
 * ```ts
 * import { dispatch, pcapHandlerCallback, PcapOfflineReader, readPkthdr } from "./libpcap.ts";
 * const r = PcapOfflineReader.open("capture.pcap");
 * let bytes = 0;
 * const cb = pcapHandlerCallback((_user, hdr) => {
 *   bytes += readPkthdr(hdr)?.wireLen ?? 0;
 * });
 * while (dispatch(r.handle, 1000, cb.pointer, 0) > 0) { }
 * cb.close();
 * r.close();
 * ```
 */
export function pcapHandlerCallback(fn: PcapHandlerFunction): Deno.UnsafeCallback<PcapHandlerDefinition> {
  return new Deno.UnsafeCallback(PCAP_HANDLER_DEFINITION, fn);
}

/**
 * Calls the real `pcap_dispatch(handle, n, callback, user)`: processes up to `n` packets (-1 or 0: one buffer
 * full / all of a file) and returns libpcap's result (count, 0, -1 error, -2 after `pcap_breakloop`).
 *
 * @example
 * ```ts
 * import { dispatch, pcapHandlerCallback, PcapOfflineReader } from "./libpcap.ts";
 * const r = PcapOfflineReader.open("capture.pcap");
 * const cb = pcapHandlerCallback(() => {});
 * const n = dispatch(r.handle, -1, cb.pointer, 0);
 * cb.close();
 * r.close();
 * ```
 */
export function dispatch(
  handle: Deno.PointerValue,
  n: number,
  callbackPointer: Deno.PointerValue,
  user: number | bigint = 0,
): number {
  if (handle === null) throw new PcapError("pcap handle is null");
  return loadLibpcap().symbols.pcap_dispatch(handle, n, callbackPointer, BigInt(user));
}

/**
 * Whether libpcap's reader error `error` is its refusal of a pcapng whose interfaces differ in link type or
 * snapshot length (captures merged), which the built-in reader reads: not a cut capture.
 *
 * @example
 * ```ts
 * import { refusesMixedInterfaces } from "./libpcap.ts";
 * console.log(refusesMixedInterfaces("an interface has a type 101 different from the type of the first interface")); // true
 * ```
 */
export function refusesMixedInterfaces(error: string): boolean {
  return /different from the (type|snapshot length) of the first interface/.test(error);
}

/** A decoded `struct pcap_pkthdr`. */
export interface PcapPkthdr {
  /** `ts.tv_sec`. */
  tsSec: number;
  /** `ts.tv_usec`: microseconds, or nanoseconds for a handle opened with nanosecond precision. */
  tsFrac: number;
  /** Captured length. */
  capLen: number;
  /** Original length on the wire. */
  wireLen: number;
}

/**
 * Reads a `struct pcap_pkthdr *` (LP64 layout: 16-byte timeval, caplen at 16, len at 20); `null` for a null
 * pointer.
 *
 * @example
 * ```ts
 * import { pcapHandlerCallback, readPkthdr } from "./libpcap.ts";
 * const cb = pcapHandlerCallback((_u, hdr) => console.log(readPkthdr(hdr)?.capLen));
 * cb.close();
 * ```
 */
export function readPkthdr(ptr: Deno.PointerValue): PcapPkthdr | null {
  if (ptr === null) return null;
  const v = new Deno.UnsafePointerView(ptr);
  return {
    tsSec: v.getUint32(0) + v.getInt32(4) * TWO_32,
    tsFrac: v.getUint32(8) + v.getInt32(12) * TWO_32,
    capLen: v.getUint32(16),
    wireLen: v.getUint32(20),
  };
}
