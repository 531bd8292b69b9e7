/**
 * Every built-in feature group, in output order. Groups register here; user extractors are added at run time
 * with `registerExtractor`.
 *
 * @module
 */
import type { FeatureExtractor } from "../lib/extractor.ts";
import { flowMetaExtractor } from "./flow_meta.ts";
import { timingExtractor } from "./timing.ts";
import { sizeExtractor } from "./size.ts";
import { tcpExtractor } from "./tcp.ts";
import { tlsExtractor } from "./tls.ts";
import { quicExtractor } from "./quic.ts";
import { httpExtractor } from "./http.ts";
import { sshExtractor } from "./ssh.ts";
import { dnsExtractor } from "./dns.ts";
import { paddingExtractor } from "./padding.ts";
import { fingerprintExtractor } from "./fingerprint.ts";
import { entropyExtractor } from "./entropy.ts";
import { macExtractor } from "./mac.ts";
import { ipExtendedExtractor } from "./ip_extended.ts";
import { ipv6OptionsExtractor } from "./ipv6_options.ts";
import { tcpSequenceExtractor } from "./tcp_sequence.ts";
import { tcpWindowExtractor } from "./tcp_window.ts";
import { tcpOptionsExtractor } from "./tcp_options.ts";
import { tcpMptcpExtractor } from "./tcp_mptcp.ts";
import { tcpRttExtractor } from "./tcp_rtt.ts";
import { tcpFingerprintExtractor } from "./tcp_fingerprint.ts";
import { icmpExtractor } from "./icmp.ts";
import { connectionExtractor } from "./connection.ts";

export { flowMetaExtractor } from "./flow_meta.ts";
export { timingExtractor, timingExtractorWith } from "./timing.ts";
export { sizeExtractor } from "./size.ts";
export { tcpExtractor } from "./tcp.ts";
export { tlsExtractor } from "./tls.ts";
export { quicExtractor } from "./quic.ts";
export { httpExtractor } from "./http.ts";
export { sshExtractor } from "./ssh.ts";
export { dnsExtractor } from "./dns.ts";
export { paddingExtractor, paddingExtractorWith } from "./padding.ts";
export { fingerprintExtractor } from "./fingerprint.ts";
export { entropyExtractor, entropyExtractorWith } from "./entropy.ts";
export { macExtractor } from "./mac.ts";
export { ipExtendedExtractor } from "./ip_extended.ts";
export { ipv6OptionsExtractor } from "./ipv6_options.ts";
export { tcpSequenceExtractor } from "./tcp_sequence.ts";
export { tcpWindowExtractor } from "./tcp_window.ts";
export { tcpOptionsExtractor } from "./tcp_options.ts";
export { tcpMptcpExtractor } from "./tcp_mptcp.ts";
export { tcpRttExtractor } from "./tcp_rtt.ts";
export { tcpFingerprintExtractor } from "./tcp_fingerprint.ts";
export { icmpExtractor } from "./icmp.ts";
export { connectionExtractor } from "./connection.ts";

/**
 * The built-in groups. `flow_meta` is first and always on.
 *
 * @example
 * ```ts
 * import { BUILTIN_EXTRACTORS } from "./mod.ts";
 * console.log(BUILTIN_EXTRACTORS[0].name); // flow_meta
 * ```
 */
// deno-lint-ignore no-explicit-any
export const BUILTIN_EXTRACTORS: readonly FeatureExtractor<any>[] = [
  flowMetaExtractor,
  timingExtractor,
  sizeExtractor,
  tcpExtractor,
  tlsExtractor,
  quicExtractor,
  httpExtractor,
  sshExtractor,
  dnsExtractor,
  paddingExtractor,
  fingerprintExtractor,
  entropyExtractor,
  macExtractor,
  ipExtendedExtractor,
  ipv6OptionsExtractor,
  tcpSequenceExtractor,
  tcpWindowExtractor,
  tcpOptionsExtractor,
  tcpMptcpExtractor,
  tcpRttExtractor,
  tcpFingerprintExtractor,
  icmpExtractor,
  connectionExtractor,
];
