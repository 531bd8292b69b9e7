import { collect, canonicalKey, recordKey } from "/work/main/tests/helpers.ts";
const C = "/work/shared/corpus/captures/";
const files = Deno.args.length ? Deno.args : ["CVE-2018-6794.pcap","bittorrent.pcap","ftp.pcap","smtp-starttls.pcap","socks4-https.pcap","ssh-r.pcap","ssh.pcap","sshv1.pcap","tls_alert.pcap","tls_long_cert.pcap","tor.pcap","v6.pcap","443-chrome.pcap","chrome.pcap","http.pcapng","latest.pcapng"];
for (const f of files) {
  const out = new Deno.Command("tshark", { args: ["-r", C + f, "-Y", "tcp", "-T", "fields", "-E", "separator=\t", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tcp.analysis.retransmission", "-e", "tcp.analysis.duplicate_ack", "-e", "tcp.analysis.out_of_order", "-e", "tcp.analysis.lost_segment"], stdout: "piped", stderr: "null" }).outputSync();
  const exp = new Map<string, number[]>();
  for (const l of new TextDecoder().decode(out.stdout).split("\n")) {
    if (!l) continue;
    const c = l.split("\t");
    const src = (c[0] || c[1]).split(",").pop()!, dst = (c[3] || c[4]).split(",").pop()!;
    const k = canonicalKey(6, src, Number(c[2].split(",")[0]), dst, Number(c[5].split(",")[0]));
    const v = exp.get(k) ?? [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) if (c[6 + i]) v[i]++;
    exp.set(k, v);
  }
  const { records } = await collect(C + f, { features: ["tcp_sequence"] });
  const got = new Map<string, number[]>();
  for (const r of records) {
    if (r.protocol !== 6) continue;
    const k = recordKey(r);
    const v = got.get(k) ?? [0, 0, 0, 0];
    v[0] += r.tcp_total_retrans as number; v[1] += r.tcp_total_dup_acks as number; v[2] += r.tcp_total_ooo as number;
    v[3] += (r.tcp_seq_fwd_gaps as number) + (r.tcp_seq_bwd_gaps as number);
    got.set(k, v);
  }
  let bad = 0; const tot = [0,0,0,0], totE=[0,0,0,0];
  for (const [k, e] of exp) {
    const g = got.get(k) ?? [-1,-1,-1,-1];
    for (let i=0;i<4;i++){tot[i]+=g[i];totE[i]+=e[i];}
    if (e.join() !== g.join()) { bad++; if (bad <= 5) console.log(f, k, "tshark", e.join(), "jj", g.join()); }
  }
  console.log(f, "flows", exp.size, "mismatch", bad, "tshark r/d/o/l", totE.join("/"), "jj", tot.join("/"));
}
