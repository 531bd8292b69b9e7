/**
 * Joy's passive OS guess (`osdetect.c`) from the initial TTL and first window size of a TCP flow's SYN and
 * SYN/ACK, printed as `"probable_os":{"out":...,"in":...}`.
 *
 * @module
 */
import type { JoyFlowRecord } from "./flow_record.ts";

function guess(ttl: number, win: number): string | null {
  if (win === 0) return null;
  if (ttl <= 64) {
    if (win === 65535) return "FreeBSD / OS X";
    if (win === 5840 || win === 29200 || win === 14600 || win === 64240 || win === 65160) {
      return "Linux 2.4 and 2.6";
    }
    return null;
  }
  if (ttl <= 128) {
    if (win === 8192) return "Windows 7, Vista, and Server 8";
    if (win === 65535 || win === 64512 || win === 16384) return "Windows XP";
    return null;
  }
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
  if (rec.prot !== 6) return "";
  const a = rec.tcpFlags ? guess(rec.ttl, rec.tcpFirstWindow) : null;
  const b = twin && twin.tcpFlags ? guess(twin.ttl, twin.tcpFirstWindow) : null;
  if (a === null && b === null) return "";
  const p: string[] = [];
  if (a !== null) p.push(`"out":"${a}"`);
  if (b !== null) p.push(`"in":"${b}"`);
  return `,"probable_os":{${p.join(",")}}`;
}
