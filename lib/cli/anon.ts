/**
 * `jj anon`: anonymizes the addresses (and listed user names) of a JSON Lines flow stream, or the addresses in a
 * capture with `--pcap`. Reversible with `--reverse` and the same key in the joy and cryptopan modes.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { InputError } from "../extract.ts";
import { whyUnreadable } from "../why_unreadable.ts";
import {
  ANON_MODES,
  type AnonMode,
  Anonymizer,
  KeyError,
  loadOrCreateKey,
  parseUserList,
} from "../anon/mod.ts";
import { anonymizeCapture, PacketAnonymizer } from "../anon/pcap.ts";
import { decompressedOffsets, DecompressionError, openCapture } from "../capture_file.ts";
import { type Cidr, parseCidrList } from "../subnets.ts";
import { planExtraction } from "../options.ts";
import { formatFromPath, gzipInto, openRecordWriter, rewriteJsonLines } from "../../outputs/mod.ts";
import {
  checkInputFile,
  openOutputFile,
  refuseNoRecords,
  refuseOptionAsFileName,
  refuseOutputAsInput,
  UsageError,
} from "./common.ts";

/** Options of `jj anon` as commander parses them. */
export interface AnonCliOptions {
  key: string;
  mode: AnonMode;
  reverse?: boolean;
  subnets?: string;
  users?: string;
  pcap?: string;
  output?: string;
  format?: string;
  quiet?: boolean;
}

async function readOptionFile(option: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`${option} ${path}: ${whyUnreadable(e)}`);
  }
}

/**
 * Builds the anonymizer for the options: loads (or creates) the key, reads the subnet and user lists.
 *
 * @example
 * ```ts
 * import { anonymizerFromOptions } from "./anon.ts";
 * const a = await anonymizerFromOptions({ key: Deno.makeTempDirSync() + "/k", mode: "hash", quiet: true });
 * console.log(a.ip("10.0.0.1") !== "10.0.0.1"); // true
 * ```
 */
export async function anonymizerFromOptions(o: AnonCliOptions): Promise<Anonymizer> {
  refuseOptionAsFileName("--key", o.key);
  let subnets: Cidr[] | undefined;
  if (o.subnets !== undefined) {
    try {
      subnets = parseCidrList(await readOptionFile("--subnets", o.subnets), o.subnets);
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(`--subnets ${e.message}`);
      throw e;
    }
  }
  const users = o.users !== undefined ? parseUserList(await readOptionFile("--users", o.users)) : undefined;
  if (o.reverse) {
    try {
      await Deno.stat(o.key);
    } catch {
      throw new KeyError(
        `key file ${o.key} does not exist; --reverse needs the key the data was anonymized with`,
      );
    }
  }
  const key = await loadOrCreateKey(o.key);
  const anonymizer = new Anonymizer(key.bytes, { mode: o.mode, reverse: o.reverse, subnets, users });
  if (o.reverse && subnets !== undefined && o.mode !== "joy") {
    // Joy's hex strings cannot be mistaken for addresses; cryptopan's results can.
    console.error(
      'jj: warning: --reverse with --subnets also "restores" real addresses that lie in the anonymized image ' +
        "of those networks and were never anonymized",
    );
  }
  if (!o.quiet) {
    if (key.created) {
      console.error(
        `jj: created key file ${o.key} (mode 0600); keep it to reverse or repeat this anonymization`,
      );
    } else if (key.mode !== null && (key.mode & 0o077) !== 0) {
      console.error(`jj: warning: key file ${o.key} is readable by others (mode 0${key.mode.toString(8)})`);
    }
  }
  return anonymizer;
}

/**
 * Runs `jj anon`; returns the exit code.
 *
 * @example
 * ```ts
 * import { runAnon } from "./anon.ts";
 * const code = await runAnon("flows.jsonl", { key: "k.key", mode: "cryptopan", output: "anon.jsonl" });
 * console.log(code); // 0
 * ```
 */
export async function runAnon(input: string | undefined, o: AnonCliOptions): Promise<number> {
  if (o.pcap !== undefined) {
    if (input !== undefined) {
      throw new UsageError(`anon --pcap reads ${o.pcap}; remove the extra input ${input}`);
    }
    if (o.mode === "joy") {
      throw new UsageError(
        "--mode joy turns addresses into 128-bit hex strings, which cannot go back into packets; " +
          "use --pcap with --mode cryptopan or hash",
      );
    }
    if (o.format !== undefined) {
      throw new UsageError("--format applies to flow records, not to --pcap captures");
    }
    if (o.users !== undefined) {
      throw new UsageError(
        "--users applies to flow records (user fields, HTTP URIs); --pcap rewrites addresses only",
      );
    }
    if (o.output !== undefined && formatFromPath(o.output).format !== null) {
      throw new UsageError(`-o ${o.output} names a record format; --pcap writes a capture (.pcap, .pcapng)`);
    }
    const out = o.output ?? "-";
    if (out === "-" && Deno.stdout.isTerminal()) {
      throw new UsageError("refusing to write a capture to a terminal; use -o FILE");
    }
    // The input first: a missing capture must not leave a new key file behind.
    await checkInputFile(o.pcap);
    refuseOutputAsInput(
      [o.pcap, o.key, o.subnets, o.users].filter((p): p is string => p !== undefined),
      o.output,
    );
    let capture: Awaited<ReturnType<typeof openCapture>>;
    try {
      capture = await openCapture(o.pcap);
    } catch (e) {
      throw new InputError(`cannot read ${o.pcap}: ${whyUnreadable(e)}`);
    }
    let anonymizer: Anonymizer;
    try {
      anonymizer = await anonymizerFromOptions(o);
    } catch (e) {
      capture.close();
      throw e;
    }
    let outStream: WritableStream<Uint8Array>;
    let piped: Promise<void> = Promise.resolve();
    if (out === "-") {
      // The capture writer closes its stream; keep stdout itself open.
      const ts = new TransformStream<Uint8Array, Uint8Array>();
      piped = ts.readable.pipeTo(Deno.stdout.writable, { preventClose: true });
      piped.catch(() => {}); // an aborted output (after an input error) is reported by that error
      outStream = ts.writable;
    } else {
      try {
        // Emptied only when output begins, and write errors reach us (FsFile.writable drops them).
        outStream = await openOutputFile(out);
      } catch (e) {
        capture.close();
        throw e;
      }
      if (/\.gz$/i.test(out)) {
        const gz = gzipInto(outStream);
        piped = gz.piped;
        outStream = gz.writable;
      }
    }
    try {
      const r = await anonymizeCapture(capture.reader, outStream, anonymizer);
      await piped;
      if (r.warning) {
        console.error(`jj: warning: ${o.pcap}: ${capture.gzip ? decompressedOffsets(r.warning) : r.warning}`);
      }
      if (r.unsupportedPackets > 0) {
        console.error(
          `jj: warning: ${o.pcap}: ${r.unsupportedPackets} packet(s) of link type ${
            r.unsupportedLinkTypes.join(", ")
          } were copied unchanged: their addresses are NOT anonymized`,
        );
      }
      if (r.droppedPackets > 0) {
        const why = Object.entries(r.droppedPacketReasons).map(([k, n]) => `${n} ${k}`).join(", ");
        console.error(
          `jj: warning: ${o.pcap}: ${r.droppedPackets} packet(s) left out (${why})`,
        );
      }
      if (!o.quiet) {
        console.error(
          `jj: ${r.packets} packets (${r.format}), ${r.packetsChanged} changed: ${r.addresses} addresses, ` +
            `${r.checksums} checksums updated${
              r.droppedBlocks
                ? `, ${r.droppedBlocks} pcapng block(s) left out (name resolution, journal, decryption secrets, custom, unknown)`
                : ""
            }${
              r.droppedOptions
                ? `, ${r.droppedOptions} pcapng option(s) that can hold addresses left out (interface addresses and filters, comments, packet hashes)`
                : ""
            }${r.droppedPackets ? `, ${r.droppedPackets} packet(s) left out` : ""}; ${anonymizer.describe()}`,
        );
      }
    } catch (e) {
      if (e instanceof RangeError) throw new InputError(`${o.pcap}: ${e.message}`);
      if (e instanceof DecompressionError) throw new InputError(`${o.pcap}: bad gzip data (${e.message})`);
      throw e;
    } finally {
      capture.close();
    }
    return 0;
  }
  const source = input ?? "-";
  await checkInputFile(source);
  // The key and the lists are inputs too: overwriting the key would lose the only way back.
  refuseOutputAsInput(
    [source, o.key, o.subnets, o.users].filter((p): p is string => p !== undefined),
    o.output,
  );
  const anonymizer = await anonymizerFromOptions(o);
  const packets = new PacketAnonymizer(anonymizer);
  anonymizer.setPacketRewriter((packet) => packets.rewriteIp(packet) >= 0);
  // An input of no record gives the columns a default extract writes (a Parquet file needs some).
  const writer = await openRecordWriter(o.output ?? "-", o.format, null, {
    columnsWhenEmpty: planExtraction({}).features,
  });
  const { records, bad } = await rewriteJsonLines(source, writer, (r) => anonymizer.record(r));
  refuseNoRecords(source, records, bad);
  if (anonymizer.droppedPackets > 0) {
    console.error(
      `jj: warning: ${anonymizer.droppedPackets} Joy initial data packet(s) (idp_out, idp_in) left out: ${
        o.mode === "joy"
          ? "--mode joy's hex strings cannot go back into packets"
          : "their IP header could not be read to rewrite its addresses"
      }`,
    );
  }
  if (records > 0 && anonymizer.addressFields === 0) {
    console.error(
      `jj: warning: ${source === "-" ? "<stdin>" : source}: no address field in any record ` +
        "(src_ip, dst_ip, *_ip, *_addr, Joy's sa and da); nothing was anonymized",
    );
  }
  if (!o.quiet) {
    console.error(
      `jj: ${records} records, ${anonymizer.changed} address(es) ${o.reverse ? "restored" : "anonymized"}` +
        `${bad ? `, ${bad} malformed line(s) left out` : ""}; ${anonymizer.describe()}`,
    );
  }
  return 0;
}

/**
 * Adds `anon` to the program.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addAnonCommand } from "./anon.ts";
 * addAnonCommand(new Command("jj"), () => {});
 * ```
 */
export function addAnonCommand(program: Command, setResult: (p: Promise<number>) => void): Command {
  return program.command("anon")
    .description(
      "Anonymize the addresses (and listed user names) of a JSON Lines flow stream, or of a capture with --pcap.",
    )
    .argument("[input]", "JSON Lines file (- or absent: stdin; gzip is decompressed)")
    .requiredOption("-k, --key <file>", "key file; created with a new random key (mode 0600) when missing")
    .addOption(
      new Option(
        "-m, --mode <mode>",
        "cryptopan: prefix-preserving; joy: Joy's AES-128 hex; hash: HMAC-SHA256",
      )
        .choices([...ANON_MODES]).default("cryptopan"),
    )
    .option(
      "-r, --reverse",
      "undo an earlier anonymization made with the same key and the same --subnets file (joy, cryptopan)",
    )
    .option("--subnets <file>", "only change addresses in these networks (one CIDR per line, # comments)")
    .option("--users <file>", "user names to anonymize in user fields and HTTP URIs (one per line)")
    .option(
      "--pcap <capture>",
      "anonymize the addresses in this pcap/pcapng capture (- for stdin; .gz is decompressed) instead",
    )
    .option(
      "-o, --output <file>",
      "write to FILE instead of stdout (.gz compresses; .csv, .parquet by extension)",
    )
    .addOption(
      new Option("--format <format>", "output format for records").choices(["jsonl", "csv", "parquet"]),
    )
    .option("-q, --quiet", "no summary on stderr")
    .addHelpText(
      "after",
      `
Fields changed: src_ip, dst_ip, tunnel_src_ip, tunnel_dst_ip, every other *_ip / *_ips / *_addr field,
Joy's sa and da (extract --format joy), the addresses in dns_answers, the address part of host fields
(http_host, Joy's Host, *_sni: 10.1.2.3:8080 or [2001:db8::1]:443, an IPv6 zone kept; names stay) and of
the request target in http_uri and Joy's uri (CONNECT's authority, an absolute URI's host), in nested
objects too; with --users, user fields (http_user, usernames, *_user) and, as Joy does, user names between
separators in http_uri (masked with *). flow_id (extract --include-flow-id, a hash of the 5-tuple) is
computed again from the new addresses, without a salt (null when the record lacks part of the 5-tuple). In
Joy's records also: DNS answers (a, aaaa), DHCP addresses (ciaddr, yiaddr, siaddr, giaddr, and the options
that hold addresses: router, server_id, address_request, name_server, ...), and the IP headers of the
initial data packets (idp_out, idp_in), rewritten as --pcap rewrites packets (their payloads, a DHCP or DNS
message, stay; of an IPv6 packet with extension headers, whose first type Joy replaces with the transport
protocol's, the addresses in them and past them are not found, and a checksum update can land in them); in
joy mode, whose hex strings do not fit in a packet, those are left out; the address literals of forwarding
headers (X-Forwarded-For, Forwarded, ...), of Referer and Origin, of certificates' names and IP alternative
names (reversed in joy mode only where an address stood: a common name stays encrypted), and of the raw
server_name extension. Reverse-lookup names (dns_query_name, Joy's qn and rn: 4.3.2.1.in-addr.arpa,
ip6.arpa) are written for the new address. IKE's NAT detection hashes (of an address, SPIs and a port) are
removed. Not changed: addresses in free text (TXT answers, an http_uri's query string, a host written in
hex or as one number), MAC addresses (the mac group; an EUI-64 interface id shows its MAC), and with
--subnets the IPv4 address inside Teredo, 6to4 and NAT64 addresses.

--pcap rewrites the addresses of IP headers (tunnels and ICMP quotes included), IP options and routing
headers, ARP, neighbour discovery (targets, prefixes, DNS servers, redirected packets), mobile IPv6 home
agent and prefix discovery, IGMP and multicast listener discovery (groups, sources), ICMPv6 node
information (subjects, addresses), SCTP address parameters (INIT, INIT ACK, ASCONF, error causes; and
wherever their bytes appear in state cookies and heartbeats), VRRP virtual addresses, OSPF v2 and v3
(router ids, neighbours, LSA ids and advertising routers, LSAs' links, routers, prefixes and forwarding
addresses; grace LSAs' interface address; an LSA's checksum copied in database descriptions and
acknowledgements stays as it was; other opaque LSAs are left out) and PIM messages (neighbours, groups,
sources, RPs, BSR, a Register's packet, RPF vectors; DF election and PFM messages are left out); of an
address the snapshot length cut short (an IP header's too, as in an ICMP error's quote), the bytes captured
(as the whole address's first bytes; with --subnets, zeroed unless, padded with zeros, it lies inside one).
Checksums (SCTP's CRC32c too) are updated incrementally, so a checksum that was wrong in the capture
(corruption) stays wrong; one over bytes not in the frame (cut by the snapshot length, or past what an ICMP
error quotes) that can hold addresses (SCTP's, OSPF's, PIM's, an ICMP error's, a cut IPv4 header's, a
tunnel's) is zeroed, as it would tell of the uncaptured addresses; a TCP or UDP field holding only the
pseudo-header's sum (checksum offload on the capturing host) becomes the new addresses' sum. A frame whose
IP header is malformed or cut inside its options or extension headers, or that nests more than 16 IP
layers, pcapng options that can hold addresses (interface addresses, capture filters, comments, packet
hashes), and name resolution, journal, decryption secrets, custom and unknown blocks are left out. Payloads
are not touched, nor are MAC addresses (Ethernet, ARP, neighbour discovery options, if_MACaddr), from which
an EUI-64 interface id, a solicited-node target's low 24 bits and a multicast group's low 23 bits can be
read; nor frames extract does not read as IP (LLDP, CDP, or IP in encapsulations it does not follow: MPLS
over UDP, L2TP, PPP over version-0 GRE, VXLAN on other ports): they are copied as they are.

--reverse needs the same key, mode and --subnets file. With --subnets, cryptopan maps a network onto another
network of the same size, which may hold real addresses left untouched (outside --subnets): --reverse cannot
tell them apart and "restores" them too. In joy mode an IPv6 address whose bytes 4..15 are zero is encrypted
like the IPv4 address of its first 4 bytes (Joy's format), so the two give the same hex and reverse to IPv4.
An IPv4-mapped address (::ffff:10.1.2.3) is an IPv6 address here: IPv4 networks in --subnets do not hold it.

Examples:
  jj extract capture.pcap | jj anon --key site.key > flows.anon.jsonl
  jj anon --key site.key --reverse flows.anon.jsonl
  jj anon --mode joy --key pcap2flow.bin --subnets internal.net flows.jsonl
  jj anon --key site.key --pcap capture.pcapng -o shared.pcapng`,
    )
    .action((input: string | undefined, o: AnonCliOptions) => setResult(runAnon(input, o)));
}
