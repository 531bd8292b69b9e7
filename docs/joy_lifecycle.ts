/**
 * The Joy library lifecycle, runnable: the same calls as the Joy API guide's C example, through libpcap's
 * `pcap_dispatch` with the context index in `user`.
 *
 *     deno run -A docs/joy_lifecycle.ts testdata/http.pcap /tmp
 *
 * @module
 */
import {
  cleanup,
  initialize,
  JOY_JSON_FORMAT,
  JOY_OK,
  JoyFlag,
  joyLastError,
  printConfig,
  printFlows,
} from "../lib/joy/api.ts";
import { closeJoyPcapHandler, handleIsNano, joyPcapHandler } from "../ffi/joy_callback.ts";
import { dispatch, LibpcapUnavailableError, PcapError, PcapOfflineReader } from "../ffi/libpcap.ts";
import { JOY_BPF_FILTER } from "../lib/joy/offline.ts";

/** Packets per `pcap_dispatch` call, as in the guide. */
const NUM_PACKETS_IN_LOOP = 10;

/**
 * Runs one capture through context 0 and writes `outDir/flows.json`.
 *
 * @example
 * ```ts
 * import { runLifecycle } from "./joy_lifecycle.ts";
 * runLifecycle("capture.pcap", "/tmp");
 * ```
 */
export function runLifecycle(pcapFile: string, outDir: string): number {
  // 1. initialize (joy_initialize)
  const rc = initialize(
    {
      type: 1, // SPLT
      verbosity: 4,
      idp: 1300,
      contexts: 1,
      bitmask: JoyFlag.BIDIR | JoyFlag.TLS | JoyFlag.HTTP | JoyFlag.DNS | JoyFlag.SSH | JoyFlag.DIST |
        JoyFlag.ENTROPY,
    },
    outDir,
    "flows.json",
  );
  if (rc !== JOY_OK) {
    console.error(joyLastError());
    return 1;
  }
  printConfig(0, JOY_JSON_FORMAT); // joy_print_config

  // 2. process (pcap_dispatch(handle, n, joy_process_packet, (u_char *)index); joy_print_flow_data)
  // With the joy program's capture filter: frames it leaves out (ARP, ...) then do not count in the batches of
  // NUM_PACKETS_IN_LOOP after which expired flows are printed, and the output is the joy program's.
  const index = 0;
  let reader: PcapOfflineReader | null = null;
  try {
    // A file libpcap cannot open at all (missing, not a capture) fails the run; only a filter that does not
    // compile for its link type is the joy program's "no flows".
    PcapOfflineReader.open(pcapFile).close();
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    console.error(`${pcapFile}: ${e.message}`);
    cleanup(index);
    closeJoyPcapHandler();
    return 1;
  }
  try {
    reader = PcapOfflineReader.open(pcapFile, JOY_BPF_FILTER);
  } catch (e) {
    // Where the filter does not compile (link types without VLANs: PPP, BSD loopback, Linux cooked), the joy
    // program gives up on the file: no flows, and the context is still cleaned up.
    if (!(e instanceof PcapError)) throw e;
  }
  if (reader !== null) {
    const handler = joyPcapHandler(handleIsNano(reader.handle));
    while (dispatch(reader.handle, NUM_PACKETS_IN_LOOP, handler.pointer, index) > 0) {
      printFlows(index, true); // JOY_EXPIRED_FLOWS
    }
    reader.close();
    printFlows(index, false); // JOY_ALL_FLOWS
  }

  // 3. clean up (joy_cleanup)
  cleanup(index);
  closeJoyPcapHandler();
  return 0;
}

if (import.meta.main) {
  const [pcap, out = "."] = Deno.args;
  if (!pcap) {
    console.error("usage: deno run -A docs/joy_lifecycle.ts CAPTURE [OUTPUT_DIR]");
    Deno.exit(2);
  }
  Deno.mkdirSync(out, { recursive: true });
  let code: number;
  try {
    code = runLifecycle(pcap, out);
  } catch (e) {
    // The Joy API needs libpcap (pcap_dispatch): one line that says how to get it, not a stack trace.
    if (!(e instanceof LibpcapUnavailableError)) throw e;
    console.error(e.message);
    Deno.exit(1);
  }
  if (code === 0) console.log(`wrote ${out}/flows.json`);
  Deno.exit(code);
}
