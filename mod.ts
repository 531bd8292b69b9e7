/**
 * jj: per-flow features from packet captures, as a streaming library.
 *
 * @example
 * ```ts
 * import { extractFlows } from "./mod.ts";
 * for await (const flow of extractFlows("testdata/http.pcap")) {
 *   console.log(flow.src_ip, flow.dst_port, flow.total_bytes);
 * }
 * ```
 *
 * @module
 */
export {
  type CaptureSource,
  extractFlows,
  type ExtractOptions,
  type ExtractSummary,
  InputError,
} from "./lib/extract.ts";
export type { FeatureOptions } from "./lib/options.ts";
export { OptionError, SettingsError } from "./lib/options.ts";
export type {
  Direction,
  FeatureExtractor,
  FeatureSpec,
  FeatureType,
  FeatureValue,
  FlowRecord,
} from "./lib/extractor.ts";
export { allExtractors, registerExtractor, selectExtractors } from "./lib/registry.ts";
export { ExtractorError } from "./lib/user_extractor.ts";
export { LibpcapUnavailableError } from "./ffi/libpcap.ts";
export { type EndReason, FlowState } from "./lib/flow.ts";
export {
  compareEndOrder,
  END_ORDER_WIDTH,
  flowEndOrder,
  FlowTable,
  type FlowTableOptions,
} from "./lib/flow_table.ts";
export { extractJsonlParallel, type ParallelOptions, shardingConflicts } from "./lib/parallel.ts";
export { CaptureMetrics } from "./lib/metrics.ts";
export {
  captureFlows,
  DEFAULT_LIVE_BUFFER,
  type LiveOptions,
  type LiveStartInfo,
  type LiveStopReason,
  type LiveSummary,
} from "./lib/live.ts";
export { FlowPipeline, type FlowPipelineOptions, type PacketStats } from "./lib/pipeline.ts";
export { PacketDecoder, SkipReason } from "./lib/decode.ts";
export { Layer, PacketView, TCP } from "./lib/packet.ts";
export {
  type ByteReader,
  CaptureFormatError,
  type CaptureReadResult,
  readCapture,
  readCaptureChunks,
} from "./lib/capture_file.ts";
export type { PacketCallback } from "./lib/source.ts";
export { formatIp, parseIp } from "./lib/addr.ts";
export { BatchWriter, JsonlWriter, type RecordWriter } from "./outputs/jsonl.ts";
export {
  anonHttpUsernames,
  anonSubnets,
  cleanup,
  exportFlowsIpfix,
  getCompactBd,
  initialize,
  JOY_FAILURE,
  JOY_FILE_SUBNET,
  JOY_JSON_FORMAT,
  JOY_OK,
  JOY_SINGLE_SUBNET,
  JOY_TERMINAL_FORMAT,
  joyContext,
  JoyFlag,
  type JoyInit,
  joyLastError,
  type JoyPktHdr,
  type JoyStatus,
  JoyType,
  labelSubnets,
  printConfig,
  printFlows,
  processPacket,
  shutdown as joyShutdown,
  updateSpltBdParams,
} from "./lib/joy/api.ts";
export { JoyContext, type JoyPrintHooks, type JoyStats } from "./lib/joy/context.ts";
export type { JoyExpireType, JoyFlowRecord } from "./lib/joy/flow_record.ts";
export type { JoyTls, JoyTlsExtension, MsgStat } from "./lib/joy/tls.ts";
export type { JoyDns } from "./lib/joy/dns.ts";
export type { JoyHttp, JoyHttpMessage } from "./lib/joy/http.ts";
export type { JoySsh } from "./lib/joy/ssh.ts";
export type { JoyDhcp, JoyDhcpMessage, JoyDhcpOption } from "./lib/joy/dhcp.ts";
export type { JoyDhcpv6, JoyDhcpv6Message } from "./lib/joy/dhcpv6.ts";
export type { JoyIke } from "./lib/joy/ike.ts";
export type { JoyPpi, JoySalt } from "./lib/joy/ppi.ts";
export {
  configLine as joyConfigLine,
  defaultJoyConfig,
  type JoyConfig,
  parseJoyConfigList,
} from "./lib/joy/config.ts";
export { type JoyFileOptions, joyProcessFile } from "./lib/joy/offline.ts";
