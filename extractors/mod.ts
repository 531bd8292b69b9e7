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

export { flowMetaExtractor } from "./flow_meta.ts";
export { timingExtractor } from "./timing.ts";
export { sizeExtractor } from "./size.ts";
export { tcpExtractor } from "./tcp.ts";
export { tlsExtractor } from "./tls.ts";
export { quicExtractor } from "./quic.ts";
export { httpExtractor } from "./http.ts";
export { sshExtractor } from "./ssh.ts";
export { dnsExtractor } from "./dns.ts";

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
];
