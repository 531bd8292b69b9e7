/**
 * `mod.ts` used as a library from a project of the user's own, which has none of jj's configuration: its npm
 * dependencies must resolve without jj's `deno.json` and `package.json` (they are `npm:` specifiers, which
 * jj's own runs take from its `node_modules`).
 */
import assert from "node:assert/strict";
import { collect, DENO, parseJsonl, ROOT, run, withTempDir } from "./helpers.ts";

/** Configuration files Deno would take from a directory or one of its parents. */
const CONFIG_FILES = ["deno.json", "deno.jsonc", "package.json"];

/** Whether `dir` or a directory above it has a file Deno reads as configuration. */
function underConfig(dir: string): boolean {
  for (let d = dir; d !== "" && d !== "/"; d = d.slice(0, d.lastIndexOf("/"))) {
    for (const f of CONFIG_FILES) {
      try {
        Deno.statSync(`${d}/${f}`);
        return true;
      } catch {
        // not there
      }
    }
  }
  return false;
}

Deno.test("mod.ts imported by a script outside the project, with no configuration, runs connection (npm dependencies)", async () => {
  await withTempDir(async (dir) => {
    assert.equal(underConfig(dir), false, `${dir} must be outside any Deno or npm project for this test`);
    const script = `${dir}/flows.ts`;
    const mod = new URL("../mod.ts", import.meta.url).href;
    // connection is the group with npm dependencies (graphology), and runs only when named.
    await Deno.writeTextFile(
      script,
      `import { extractFlows } from ${JSON.stringify(mod)};\n` +
        `for await (const r of extractFlows(${JSON.stringify(`${ROOT}/testdata/http.pcap`)}, ` +
        `{ features: ["flow_meta", "connection"] })) console.log(JSON.stringify(r));\n`,
    );
    const r = await run(DENO, ["run", "-A", script], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const { records } = await collect(`${ROOT}/testdata/http.pcap`, {
      features: ["flow_meta", "connection"],
    });
    assert.ok(records.length > 0);
    assert.ok(
      records.every((x) => typeof x.conn_src_total_flows === "number"),
      "connection's columns have values",
    );
    assert.deepEqual(parseJsonl(r.stdout), JSON.parse(JSON.stringify(records)));
  });
});

Deno.test("every npm: specifier of the sources names the version package.json pins", async () => {
  const pkg = JSON.parse(await Deno.readTextFile(`${ROOT}/package.json`));
  const pinned: Record<string, string> = { ...pkg.dependencies, ...pkg.devDependencies };
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory && e.name !== "node_modules" && !e.name.startsWith(".")) await walk(path);
      else if (e.isFile && e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(path);
        for (const m of text.matchAll(/["']npm:((?:@[^/@"']+\/)?[^/@"']+)(?:@([^/"']+))?/g)) {
          found.push(`${path.slice(ROOT.length + 1)} ${m[1]}`);
          assert.equal(
            m[2],
            pinned[m[1]],
            `${path}: npm:${m[1]} must be pinned at package.json's ${pinned[m[1]]}`,
          );
        }
      }
    }
  };
  for (const dir of ["lib", "extractors", "outputs", "ffi", "bench", "scripts"]) await walk(`${ROOT}/${dir}`);
  assert.ok(found.some((f) => f.includes("graphology")), found.join("\n"));
});
