/**
 * Joy's DHCP (v4) feature (`dhcp.c`): each UDP payload of a flow between ports 67 and 68 is read as a BOOTP/DHCP
 * message (at most 16 per direction, at most 16 options or 512 option bytes per message) and printed as
 * `"dhcp":[{"op":"1",...,"options":[{"msg_type":"DHCPDISCOVER"},...]}]`, only the printed record's own
 * messages (Joy ignores the twin's).
 *
 * Joy's quirks are kept: the header numbers are printed as strings; a message whose magic cookie is wrong is not
 * counted, but its server and boot file names stay in the slot and reappear in the next message; a known option
 * without a value (length 0, or a message type outside 1..18) is printed with an empty value, `{"msg_type":""}`,
 * where Joy prints a lone `}` and its line is no longer JSON (the one deliberate difference: every line jj writes
 * parses). Joy reads the options until the end option whatever the payload length; jj stops where the readable
 * bytes end.
 *
 * @module
 */
import { hex } from "./json.ts";

/** Messages kept per direction (`MAX_DHCP_LEN`). */
export const MAX_DHCP_LEN = 16;
/** Options kept per message (`MAX_DHCP_OPTIONS`). */
export const MAX_DHCP_OPTIONS = 16;
/** Option bytes read per message (`MAX_DHCP_OPTIONS_LEN`). */
export const MAX_DHCP_OPTIONS_LEN = 512;

const SNAME_LEN = 64, FILE_LEN = 128;

/** Option names of Joy 4.5 (`dhcp_option_types`); codes without a name print as `kind`. */
const OPTION_NAMES: Record<number, string> = {};
(function fill(): void {
  const ranges: [number, string][] = [
    [
      0,
      "pad subnet_mask time_offset router time_server name_server domain_server log_server quotes_server " +
      "lpr_server impress_server rlp_server hostname boot_file_size merit_dump_file domain_name swap_server " +
      "root_path extension_file forward_on_off src_rte_on_off policy_filter max_dg_assembly default_ipttl " +
      "mtu_timeout mtu_plateau mtu_interface mtu_subnet broadcast_address mask_discovery mask_supplier " +
      "router_discovery router_request static_route trailers arp_timeout ethernet default_tcpttl keepalive_time " +
      "keepalive_data nis_domain nis_servers ntp_servers vendor_specific netbios_name_srv netbios_dist_srv " +
      "netbios_node_type netbios_scope xwindow_font xwindow_manager address_request address_time overload " +
      "msg_type server_id parameter_list message max_msg_size renewal_time rebinding_time class_id client_id " +
      "netWare_ip_domain netware_ip_option nis_domain_name nis_server_addr server_name bootfile_name " +
      "home_agent_addrs smtp_server pop3_server nntp_server www_server finger_server irc_server " +
      "street_talk_server stda_server user_class directory_agent service_scope rapid_commit client_fqdn " +
      "relay_agent_information isns",
    ],
    [
      85,
      "nds_servers nds_tree_name nds_context bcmcs_controller_domain_name_list bcmcs_controller_ipv4_address " +
      "authentication client_last_transaction_time associated_ip client_system client_ndi ldap",
    ],
    [97, "uuid_guid user_auth geoconf_civic pcode tcode"],
    [112, "netinfo_address netinfo_tag url"],
    [
      116,
      "auto_config name_service_search subnet_selection domain_search sip_servers " +
      "classless_static_route ccc geo_conf vendor_class vendor_specific_information",
    ],
    [
      136,
      "option_pana_agent option_v4_lost option_capwap_ac_v4 option_ipv4_address_mos " +
      "option_ipv4_fqdn_mos sip_ua_configuration_service_domains option_ipv4_address_andsf",
    ],
    [144, "geo_loc forcerenew_nonce_capable rdnss_selection"],
    [
      150,
      "tftp_server_address|etherboot|grub_configuration_path_name status_code base_time " +
      "start_time_of_state query_start_time query_end_time dhcp_state data_source option_v4_pcp_server " +
      "option_v4_portparams captive_portal option_mud_url_v4",
    ],
    [175, "etherboot ip_telephone etherboot|packetcable_cablehome"],
    [208, "pxelinux_magic configuration_file path_prefix reboot_time option_6rd option_v4_access_domain"],
    [220, "subnet_allocation virtual_subnet_selection"],
    [255, "end"],
  ];
  for (const [start, names] of ranges) names.split(" ").forEach((n, i) => OPTION_NAMES[start + i] = n);
})();

const MSG_TYPES = [
  "",
  "DHCPDISCOVER",
  "DHCPOFFER",
  "DHCPREQUEST",
  "DHCPDECLINE",
  "DHCPACK",
  "DHCPNAK",
  "DHCPRELEASE",
  "DHCPINFORM",
  "DHCPFORCERENEW",
  "DHCPLEASEQUERY",
  "DHCPLEASEUNASSIGNED",
  "DHCPLEASEUNKNOWN",
  "DHCPLEASEACTIVE",
  "DHCPBULKLEASEQUERY",
  "DHCPLEASEQUERYDONE",
  "DHCPACTIVELEASEQUERY",
  "DHCPLEASEQUERYSTATUS",
  "DHCPTLS",
];

/**
 * One option: code, length, and its value (a name for the message type, else the raw bytes; null: none).
 *
 * @example
 * ```ts
 * import { JoyDhcp, type JoyDhcpOption } from "./dhcp.ts";
 * // A DHCPDISCOVER: BOOTP fields, the magic cookie at byte 236, then option 53 (message type 1) and the end.
 * const msg = new Uint8Array(244);
 * msg.set([1, 1, 6, 0, 0x39, 0x03, 0xf3, 0x26]);
 * msg.set([0x63, 0x82, 0x53, 0x63, 53, 1, 1, 255], 236);
 * const d = new JoyDhcp();
 * d.update(msg, 0, msg.length, msg.length);
 * const option: JoyDhcpOption = d.messages[0].options[0];
 * console.log(option.code, option.valueStr); // 53 DHCPDISCOVER
 * ```
 */
export interface JoyDhcpOption {
  /** Option code. */
  code: number;
  /** Length of the value, as the option gives it. */
  len: number;
  /** Message type name (option 53), or null. */
  valueStr: string | null;
  /** Raw value bytes (options other than 53), or null when empty. */
  value: Uint8Array | null;
}

/**
 * One message as Joy keeps it.
 *
 * @example
 * ```ts
 * import { JoyDhcp, type JoyDhcpMessage } from "./dhcp.ts";
 * // A DHCPDISCOVER: BOOTP fields, the magic cookie at byte 236, then option 53 (message type 1) and the end.
 * const msg = new Uint8Array(244);
 * msg.set([1, 1, 6, 0, 0x39, 0x03, 0xf3, 0x26]);
 * msg.set([0x63, 0x82, 0x53, 0x63, 53, 1, 1, 255], 236);
 * const d = new JoyDhcp();
 * d.update(msg, 0, msg.length, msg.length);
 * const m: JoyDhcpMessage = d.messages[0];
 * console.log(m.op, m.xid.toString(16), m.addrs[0]); // 1 3903f326 0.0.0.0
 * ```
 */
export interface JoyDhcpMessage {
  /** Message op code (1 request, 2 reply). */
  op: number;
  /** Hardware address type. */
  htype: number;
  /** Hardware address length. */
  hlen: number;
  /** Relay hops. */
  hops: number;
  /** Transaction id. */
  xid: number;
  /** Seconds since the client began. */
  secs: number;
  /** Flags (the broadcast bit). */
  flags: number;
  /** ciaddr, yiaddr, siaddr, giaddr in dotted notation. */
  addrs: [string, string, string, string];
  /** Client hardware address (16 bytes). */
  chaddr: Uint8Array;
  /** Server host name made printable, or null (may come from an earlier message whose cookie was wrong). */
  sname: string | null;
  /** Boot file name made printable, or null (may come from an earlier message whose cookie was wrong). */
  file: string | null;
  /** Options, in order (at most 16). */
  options: JoyDhcpOption[];
}

/** `joy_utils_convert_to_json_string` of a NUL-terminated field of `max` bytes. */
function fieldString(at: (i: number) => number, p: number, max: number): string {
  let s = "";
  for (let i = 0; i < max - 1; i++) {
    const c = at(p + i);
    if (c === 0) break;
    s += c < 0x20 || c > 0x7e || c === 0x5c || c === 0x2f || c === 0x22 ? "." : String.fromCharCode(c);
  }
  return s;
}

/**
 * The DHCP state of one direction of a flow.
 *
 * @example
 * ```ts
 * import { JoyDhcp } from "./dhcp.ts";
 * const d = new JoyDhcp();
 * d.update(new Uint8Array(10), 0, 10, 10); // no magic cookie: not counted
 * console.log(d.messages.length); // 0
 * ```
 */
export class JoyDhcp {
  /** Parsed messages (at most {@linkcode MAX_DHCP_LEN}). */
  readonly messages: JoyDhcpMessage[] = [];
  /** Names left in the next slot by a message whose cookie was wrong. */
  private pendingSname: string | null = null;
  private pendingFile: string | null = null;

  /**
   * Reads one payload at `buf[p ..]` (`len` bytes long; Joy reads on regardless, up to `readEnd` here, zeros
   * past it).
   */
  update(buf: Uint8Array, p: number, _len: number, readEnd: number): void {
    if (this.messages.length >= MAX_DHCP_LEN) return;
    const end = Math.min(buf.length, readEnd);
    const at = (i: number): number => (i < end ? buf[i] : 0);
    const u16 = (i: number): number => (at(i) << 8) | at(i + 1);
    const u32 = (i: number): number =>
      ((at(i) << 24) | (at(i + 1) << 16) | (at(i + 2) << 8) | at(i + 3)) >>> 0;
    const addr = (i: number): string => `${at(i)}.${at(i + 1)}.${at(i + 2)}.${at(i + 3)}`;
    const chaddr = new Uint8Array(16);
    for (let i = 0; i < 16; i++) chaddr[i] = at(p + 28 + i);
    let q = p + 44;
    if (at(q) !== 0) this.pendingSname = fieldString(at, q, SNAME_LEN);
    q += SNAME_LEN;
    if (at(q) !== 0) this.pendingFile = fieldString(at, q, FILE_LEN);
    q += FILE_LEN;
    if (at(q) !== 0x63 || at(q + 1) !== 0x82 || at(q + 2) !== 0x53 || at(q + 3) !== 0x63) return;
    q += 4;
    const options: JoyDhcpOption[] = [];
    let optionsLength = 0;
    while (q < end && at(q) !== 255) {
      if (optionsLength >= MAX_DHCP_OPTIONS_LEN || options.length >= MAX_DHCP_OPTIONS) break;
      const code = at(q);
      if (code === 0) {
        q++;
        continue;
      }
      const len = at(q + 1);
      q += 2;
      optionsLength += 2;
      let valueStr: string | null = null, value: Uint8Array | null = null;
      if (len !== 0) {
        if (code === 53) {
          const t = at(q);
          valueStr = t >= 1 && t <= 18 ? MSG_TYPES[t] : null;
        } else {
          value = new Uint8Array(len);
          for (let i = 0; i < len; i++) value[i] = at(q + i);
        }
        q += len;
        optionsLength += len;
      }
      options.push({ code, len, valueStr, value });
    }
    this.messages.push({
      op: at(p),
      htype: at(p + 1),
      hlen: at(p + 2),
      hops: at(p + 3),
      xid: u32(p + 4),
      secs: u16(p + 8),
      flags: u16(p + 10),
      addrs: [addr(p + 12), addr(p + 16), addr(p + 20), addr(p + 24)],
      chaddr,
      sname: this.pendingSname,
      file: this.pendingFile,
      options,
    });
    this.pendingSname = this.pendingFile = null;
  }
}

function optionsJson(options: JoyDhcpOption[]): string {
  let s = `,"options":[`;
  options.forEach((o, i) => {
    const name = OPTION_NAMES[o.code];
    if (name !== undefined) {
      if (o.valueStr !== null) s += `{"${name}":"${o.valueStr}"`;
      else if (o.value !== null && o.len !== 0) s += `{"${name}":"${hex(o.value, 0, o.len)}"`;
      else s += `{"${name}":""`;
      s += "}";
    } else {
      s += `{"kind":${o.code}`;
      if (o.value !== null && o.len !== 0) s += `,"data":"${hex(o.value, 0, o.len)}"`;
      s += "}";
    }
    s += i === options.length - 1 ? "]" : ",";
  });
  return s;
}

/**
 * The `,"dhcp":[...]` fragment (`dhcp_print_json`): the record's own messages; `addr` may replace an address
 * (anonymization).
 *
 * @example
 * ```ts
 * import { dhcpPrintJson, JoyDhcp } from "./dhcp.ts";
 * console.log(dhcpPrintJson(new JoyDhcp())); // (empty string)
 * ```
 */
export function dhcpPrintJson(d: JoyDhcp, addr?: (ip: string) => string | null): string {
  if (d.messages.length === 0) return "";
  const parts: string[] = [];
  for (const m of d.messages) {
    const a = m.addrs.map((x) => addr?.(x) ?? x);
    let s = `{"op":"${m.op}","htype":"${m.htype}","hlen":"${m.hlen}","hops":"${m.hops}","xid":"${m.xid}",` +
      `"secs":"${m.secs}","flags":"${m.flags}","ciaddr":"${a[0]}","yiaddr":"${a[1]}","siaddr":"${a[2]}",` +
      `"giaddr":"${a[3]}","chaddr":"${hex(m.chaddr, 0, 16)}"`;
    if (m.sname !== null) s += `,"sname":"${m.sname}"`;
    if (m.file !== null) s += `,"file":"${m.file}"`;
    if (m.options.length) s += optionsJson(m.options);
    parts.push(s + "}");
  }
  return `,"dhcp":[${parts.join(",")}]`;
}
