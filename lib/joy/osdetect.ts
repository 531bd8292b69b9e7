/**
 * Joy's passive OS guess (`osdetect.c`) from the initial TTL and first window size of a TCP flow's SYN and
 * SYN/ACK, printed as `"probable_os":{"out":...,"in":...}`.
 *
 * @module
 */
import type { JoyFlowRecord } from "./flow_record.ts";

/** Joy's table (`detect_os`): initial TTL range and first window size. */
const OS_TABLE: readonly [number, number, number, string][] = [
  [33, 64, 5840, "Linux 2.4 and 2.6"],
  [33, 64, 5720, "Google Customized Linux"],
  [33, 64, 16384, "OpenBSD, AIX 4.3"],
  [33, 64, 32120, "Linux Kernel 2.2"],
  [33, 64, 65535, "FreeBSD / OS X"],
  [65, 128, 8192, "Windows 7, Vista, and Server 8"],
  [65, 128, 16384, "Windows 2000"],
  [65, 128, 65535, "Windows XP"],
  [129, 255, 4128, "Cisco Router IOS 12.4"],
  [129, 255, 8760, "Solaris 7"],
];

function guess(ttl: number, win: number): string | null {
  for (const [lo, hi, w, name] of OS_TABLE) if (ttl >= lo && ttl <= hi && win === w) return name;
  return null;
}

/**
 * The `,"probable_os":{...}` fragment, or "" when nothing is guessed.
 *
 * @example
 * ```ts
 * import { osJson } from "./osdetect.ts";
 * import { JoyFlowRecord } from "./flow_record.ts";
 * console.log(osJson(new JoyFlowRecord(), null)); // ""
 * ```
 */
export function osJson(rec: JoyFlowRecord, twin: JoyFlowRecord | null): string {
  const a = guess(rec.ttl, rec.tcpFirstWindow);
  const b = twin && twin.ttl ? guess(twin.ttl, twin.tcpFirstWindow) : null;
  if (a === null && b === null) return "";
  const p: string[] = [];
  if (a !== null) p.push(`"out":"${a}"`);
  if (b !== null) p.push(`"in":"${b}"`);
  return `,"probable_os":{${p.join(",")}}`;
}
