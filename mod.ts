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
export type {
  Direction,
  FeatureExtractor,
  FeatureSpec,
  FeatureType,
  FeatureValue,
  FlowRecord,
} from "./lib/extractor.ts";
export { allExtractors, registerExtractor, selectExtractors } from "./lib/registry.ts";
export { FlowState } from "./lib/flow.ts";
export { FlowTable, type FlowTableOptions } from "./lib/flow_table.ts";
export { FlowPipeline, type FlowPipelineOptions, type PacketStats } from "./lib/pipeline.ts";
export { PacketDecoder, SkipReason } from "./lib/decode.ts";
export { Layer, PacketView, TCP } from "./lib/packet.ts";
export { CaptureFormatError, readCapture, readCaptureChunks } from "./lib/capture_file.ts";
export type { PacketCallback } from "./lib/source.ts";
export { formatIp, parseIp } from "./lib/addr.ts";
export { JsonlWriter, type RecordWriter } from "./outputs/jsonl.ts";
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
export { JoyContext } from "./lib/joy/context.ts";
export {
  configLine as joyConfigLine,
  defaultJoyConfig,
  type JoyConfig,
  parseJoyConfigList,
} from "./lib/joy/config.ts";
export { joyProcessFile } from "./lib/joy/offline.ts";
