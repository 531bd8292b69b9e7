/**
 * Joy's DHCPv6 feature (`dhcpv6.c`): each UDP payload of a flow between ports 546 and 547 is kept (message type,
 * transaction id, and the next 60 bytes; at most 10 messages per direction) and printed as
 * `"dhcpv6":[{"type":"SOLICIT","transid":"100874","option":"CLIENTID","optlen":14,"macaddr":"08:00:..."}]`:
 * only the first option of each message, and for a client or server identifier the six bytes at offset 8 of
 * its data (the link-layer address of a DUID-LLT, whatever the DUID type). Only the printed record's own
 * messages appear (Joy ignores the twin's).
 *
 * @module
 */
import { hexByte } from "./json.ts";

/** Messages kept per direction (`MAX_DHCP_V6_MSGS`). */
export const MAX_DHCP_V6_MSGS = 10;
/** Bytes kept per message, type and transaction id included (`MAX_DHCP_V6_MSG_LEN`). */
export const MAX_DHCP_V6_MSG_LEN = 64;

const MSG_TYPES: Record<number, string> = {
  1: "SOLICIT",
  2: "ADVERTISE",
  3: "REQUEST",
  4: "CONFIRM",
  5: "RENEW",
  6: "REBIND",
  7: "REPLY",
  8: "RELEASE",
  9: "DECLINE",
  10: "RECONFIGURE",
  11: "INFOREQUEST",
  12: "RELAYFORWD",
  13: "RELAYREPL",
};

const OPTIONS: Record<number, string> = {
  1: "CLIENTID",
  2: "SERVERID",
  3: "IANA",
  4: "IATA",
  5: "IAADDR",
  6: "ORO",
  7: "PREFERENCE",
  8: "ELAPSEDTIME",
  11: "AUTHENTICATION",
  12: "UNICAST",
  13: "STATUSCODE",
  14: "RAPIDCOMMIT",
  15: "USERCLASS",
  16: "VENDORCLASS",
  17: "VENDOROPTS",
  18: "INTERFACEID",
  19: "RECONFMSG",
  25: "IAPD",
  26: "IAPREFIX",
  32: "INFOREFRESHTIME",
  82: "SOLMAXRT",
  83: "INFMAXRT",
};

/**
 * One kept message: type, 24-bit transaction id, and the bytes after them (zero-filled to 60).
 *
 * @example
 * ```ts
 * import { JoyDhcpv6, type JoyDhcpv6Message } from "./dhcpv6.ts";
 * const d = new JoyDhcpv6();
 * d.update(new Uint8Array([1, 0x10, 0x08, 0x74, 0, 8, 0, 2, 0, 0]), 0, 10, 10); // SOLICIT, elapsed time 0
 * const m: JoyDhcpv6Message = d.messages[0];
 * console.log(m.type, m.transId.toString(16), m.data.length); // 1 100874 60
 * ```
 */
export interface JoyDhcpv6Message {
  /** Message type (1 SOLICIT, 2 ADVERTISE, ...). */
  type: number;
  /** Transaction id (24 bits). */
  transId: number;
  /** The bytes after the transaction id, zero-filled to 60. */
  data: Uint8Array;
}

/**
 * The DHCPv6 state of one direction of a flow.
 *
 * @example
 * ```ts
 * import { JoyDhcpv6 } from "./dhcpv6.ts";
 * const d = new JoyDhcpv6();
 * d.update(new Uint8Array([1, 0x10, 0x08, 0x74, 0, 1, 0, 14]), 0, 8, 8);
 * console.log(d.messages[0].transId.toString(16)); // 100874
 * ```
 */
export class JoyDhcpv6 {
  /** Kept messages (at most {@linkcode MAX_DHCP_V6_MSGS}). */
  readonly messages: JoyDhcpv6Message[] = [];

  /** Keeps one payload `buf[p .. p + len)` (bytes up to `readEnd` are readable, zeros past it). */
  update(buf: Uint8Array, p: number, len: number, readEnd: number): void {
    if (this.messages.length >= MAX_DHCP_V6_MSGS) return;
    const end = Math.min(buf.length, readEnd);
    const at = (i: number): number => (i < end ? buf[i] : 0);
    const data = new Uint8Array(MAX_DHCP_V6_MSG_LEN - 4);
    // Joy copies min(len, 64) - 4 bytes (a payload shorter than 4 bytes makes that count wrap; none here).
    const n = Math.max(0, Math.min(len, MAX_DHCP_V6_MSG_LEN) - 4);
    for (let i = 0; i < n; i++) data[i] = at(p + 4 + i);
    this.messages.push({ type: at(p), transId: (at(p + 1) << 16) | (at(p + 2) << 8) | at(p + 3), data });
  }
}

/**
 * The `,"dhcpv6":[...]` fragment (`dhcpv6_print_json`) of the record's own messages.
 *
 * @example
 * ```ts
 * import { dhcpv6PrintJson, JoyDhcpv6 } from "./dhcpv6.ts";
 * const d = new JoyDhcpv6();
 * d.update(new Uint8Array([1, 0x10, 0x08, 0x74, 0, 8, 0, 2, 0, 0]), 0, 10, 10);
 * console.log(dhcpv6PrintJson(d)); // ,"dhcpv6":[{"type":"SOLICIT","transid":"100874","option":"ELAPSEDTIME","optlen":2}]
 * ```
 */
export function dhcpv6PrintJson(d: JoyDhcpv6): string {
  if (d.messages.length === 0) return "";
  const parts: string[] = [];
  for (const m of d.messages) {
    const t = MSG_TYPES[m.type], x = m.data;
    const opt = (x[0] << 8) | x[1], optLen = (x[2] << 8) | x[3];
    const o = OPTIONS[opt];
    let s = `{"type":"${t ?? m.type}","transid":"${m.transId.toString(16)}","option":"${o ?? opt}",` +
      `"optlen":${optLen}`;
    if (opt === 1 || opt === 2) {
      s += `,"macaddr":"${[12, 13, 14, 15, 16, 17].map((i) => hexByte(x[i])).join(":")}"`;
    }
    parts.push(s + "}");
  }
  return `,"dhcpv6":[${parts.join(",")}]`;
}
