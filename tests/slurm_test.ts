// A real distributed run: Debian's Slurm (slurmctld + slurmd on this machine, authenticated by munge, all started
// here from a generated slurm.conf in a temp folder) runs scripts/slurm-score.sh as a job array of
// `score --shard i/4`. One task is cancelled with scancel while it is scoring (its journal has rows) and requeued
// with scontrol requeue; it must resume from that journal. Then merge and report: the merged file must equal a
// single-process run row for row (and the HF reference where it has no near-tie).
import { isFile } from "../base/fs.ts";
import { readResults } from "../io/results.ts";
import { assert, assertEquals } from "./assert.ts";
import { PICO_DATA, PICO_MODELS, picoReference, runCli } from "./helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TOOLS = ["munged", "slurmctld", "slurmd", "sbatch", "scancel", "scontrol", "squeue", "sinfo"];
const MODEL = `${PICO_MODELS}/pico-3/step1092`;
const LABEL = "pico-3@step1092";
const ROWS = 400;
const SHARDS = 4;
const KILLED = 1; // the task cancelled mid-run
// Small batches: a shard takes 7 of them, so the journal has rows for seconds before the task can finish.
const BATCH = 16;

function missingTools(): string[] {
  const path = (Deno.env.get("PATH") ?? "") + ":/usr/sbin:/sbin";
  return TOOLS.filter((t) =>
    !path.split(":").some((dir) => {
      try {
        return Deno.statSync(`${dir}/${t}`).isFile;
      } catch {
        return false;
      }
    })
  );
}

/** Why the test cannot run here, or null. Installs Slurm with scripts/setup.sh when it can (root with apt-get). */
async function unavailable(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "Slurm runs on Linux only";
  // SlurmUser and SlurmdUser are root: slurmd starts jobs as their user, which only root may do.
  if (Deno.uid() !== 0) return "the one-node cluster needs root (as CI has)";
  if (missingTools().length === 0) return null;
  await new Deno.Command("sh", { args: [`${ROOT}scripts/setup.sh`, "test"], stdout: "null" }).output();
  const missing = missingTools();
  if (missing.length === 0) return null;
  const apt = await new Deno.Command("sh", { args: ["-c", "command -v apt-get"], stdout: "null" }).output()
    .then((o) => o.success, () => false);
  if (apt) {
    throw new Error(`slurm_test: ${missing.join(", ")} missing after scripts/setup.sh tried to install them`);
  }
  return `no apt-get to install ${missing.join(", ")}: install slurm-wlm and munge to run it`;
}

const skip = await unavailable();
if (skip) console.log(`slurm_test: skipped: ${skip}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it returns a value other than undefined; fails after `seconds`. */
async function waitFor<T>(what: string, seconds: number, check: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

/** A port nobody listens on now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A one-node Slurm cluster on this machine, its config, state, spool, logs and munge key in `dir`. */
class Cluster {
  private daemons: { name: string; process: Deno.ChildProcess }[] = [];
  readonly env: Record<string, string>;

  constructor(readonly dir: string) {
    this.env = { SLURM_CONF: `${dir}/slurm.conf` };
  }

  /** Runs a Slurm client command; its stdout, or an error with its stderr. */
  async run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
    const out = await new Deno.Command(cmd, {
      args,
      env: { ...this.env, ...env },
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${text(out.stderr).trim()}`);
    return text(out.stdout);
  }

  async start() {
    const dir = this.dir;
    // munged insists that everyone may traverse the path to its socket.
    await Deno.chmod(dir, 0o755);
    for (const sub of ["state", "spool", "log"]) await Deno.mkdir(`${dir}/${sub}`);
    const key = crypto.getRandomValues(new Uint8Array(128));
    await Deno.writeFile(`${dir}/munge.key`, key, { mode: 0o600 });
    this.spawn("munged", [
      "-F",
      `--socket=${dir}/munge.sock`,
      `--key-file=${dir}/munge.key`,
      `--pid-file=${dir}/munged.pid`,
      `--log-file=${dir}/log/munged.log`,
      `--seed-file=${dir}/munged.seed`,
    ]);
    await waitFor(
      "munged's socket",
      20,
      () => Deno.stat(`${dir}/munge.sock`).then(() => true, () => undefined),
    );
    // This machine as slurmd sees it (CPUs, sockets, cores, memory): a node that differs would be drained.
    const node = (await this.run("slurmd", ["-C"])).split("\n")[0].trim();
    const host = /^NodeName=(\S+)/.exec(node)![1];
    await Deno.writeTextFile(
      `${dir}/slurm.conf`,
      [
        "ClusterName=engram-test",
        `SlurmctldHost=${host}(127.0.0.1)`,
        `SlurmctldPort=${freePort()}`,
        `SlurmdPort=${freePort()}`,
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        // A requeued job waits cred_expire seconds (default 120) before it may start again.
        `AuthInfo=socket=${dir}/munge.sock,cred_expire=5`,
        `StateSaveLocation=${dir}/state`,
        `SlurmdSpoolDir=${dir}/spool`,
        `SlurmctldPidFile=${dir}/slurmctld.pid`,
        `SlurmdPidFile=${dir}/slurmd.pid`,
        `SlurmctldLogFile=${dir}/log/slurmctld.log`,
        `SlurmdLogFile=${dir}/log/slurmd.log`,
        "MailProg=/bin/true",
        // No systemd or cgroups here: track processes by parentage, bind nothing.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "ReturnToService=2",
        `${node} NodeAddr=127.0.0.1 State=UNKNOWN`,
        `PartitionName=test Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
      ].join("\n") + "\n",
    );
    this.spawn("slurmctld", ["-D", "-f", `${dir}/slurm.conf`]);
    this.spawn("slurmd", ["-D", "-f", `${dir}/slurm.conf`]);
    await waitFor("the node to be idle", 60, async () => {
      const state = await this.run("sinfo", ["-h", "-o", "%T"]).catch(() => "");
      return state.trim() === "idle" ? true : undefined;
    });
  }

  /** Starts a daemon in the foreground, as our child, its stderr (errors before it opens its log) in log/. */
  private spawn(name: string, args: string[]) {
    const process = new Deno.Command("sh", {
      args: ["-c", `exec "$0" "$@" 2>"${this.dir}/log/${name}.stderr"`, name, ...args],
      env: this.env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.daemons.push({ name, process });
  }

  /** Cancels every job, then stops the daemons (last started first) and waits for them to exit. */
  async stop() {
    if (this.daemons.some((d) => d.name === "slurmctld")) {
      await this.run("scancel", ["--user=root"]).catch(() => {});
      await waitFor("the jobs to end", 60, async () => {
        const jobs = await this.run("squeue", ["-h"]).catch(() => "");
        return jobs.trim() === "" ? true : undefined;
      }).catch(() => {});
    }
    for (const { process } of this.daemons.reverse()) {
      try {
        process.kill("SIGTERM");
      } catch { /* already gone */ }
      const killer = setTimeout(() => {
        try {
          process.kill("SIGKILL");
        } catch { /* gone */ }
      }, 10_000);
      await process.status;
      clearTimeout(killer);
    }
    this.daemons = [];
  }

  /** The tails of every log, for a failure's message. */
  async logs(): Promise<string> {
    const parts: string[] = [];
    for await (const e of Deno.readDir(`${this.dir}/log`)) {
      const text = await Deno.readTextFile(`${this.dir}/log/${e.name}`).catch(() => "");
      parts.push(`--- ${e.name}\n${text.split("\n").slice(-30).join("\n")}`);
    }
    return parts.join("\n");
  }
}

/** Array tasks as `scontrol show job` has them: task id → its fields (JobState, Restarts, ExitCode, ...). */
async function tasks(cluster: Cluster, job: string): Promise<Map<string, Record<string, string>>> {
  const out = await cluster.run("scontrol", ["-o", "show", "job", job]);
  const map = new Map<string, Record<string, string>>();
  for (const line of out.split("\n").filter((l) => l.trim())) {
    const fields = Object.fromEntries(
      line.trim().split(/\s+/).map((f) => {
        const at = f.indexOf("=");
        return [f.slice(0, at), f.slice(at + 1)];
      }),
    );
    map.set(fields.ArrayTaskId, fields);
  }
  return map;
}

/** A journal's header and whole records, read as scoring/journal.ts lays them out; null before it exists. */
async function readJournal(path: string): Promise<{ created: string; rows: number } | null> {
  const bytes = await Deno.readFile(path).catch(() => null);
  if (!bytes || bytes.length < 12) return null;
  assertEquals(new TextDecoder().decode(bytes.subarray(0, 8)), "ENGRAMJ1");
  const headerLength = new DataView(bytes.buffer).getUint32(8, true);
  if (bytes.length < 12 + headerLength) return null;
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  return { created: header.created, rows: Math.floor((bytes.length - 12 - headerLength) / 16) };
}

/** Processes (pid) whose command line holds every one of `parts`. */
async function processesWith(parts: string[]): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (parts.every((p) => cmdline.includes(p))) pids.push(Number(e.name));
  }
  return pids;
}

Deno.test({
  name:
    `Slurm job array of score --shard i/${SHARDS}, one task cancelled mid-run and requeued, merges into ` +
    `exactly the single-process result`,
  ignore: skip !== null,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "engram-slurm-" });
    const cluster = new Cluster(dir);
    try {
      await cluster.start();
      const shards = `${dir}/shards`;
      const shardFile = (i: number) => `${shards}/${LABEL}.shard-${i}-of-${SHARDS}.parquet`;
      const job = (await cluster.run("sbatch", [
        "--parsable",
        `--array=0-${SHARDS - 1}`,
        // This node has no GPU and 2 CPUs: the site-specific #SBATCH lines are overridden as a user would.
        "--gres=none",
        "--cpus-per-task=1",
        "--time=10",
        `--output=${dir}/log/job-%A_%a.log`,
        "scripts/slurm-score.sh",
        ...["--model", MODEL, "--data", PICO_DATA, "--count", String(ROWS), "--batch", String(BATCH)],
        ...["--out", shards],
      ], { DENO: Deno.execPath(), XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" })).trim();

      // Cancel the task once it is scoring: its journal has rows and its shard file is not there yet.
      const journalPath = `${shardFile(KILLED)}.partial`;
      await waitFor(`task ${KILLED}'s journal to have rows`, 180, async () => {
        const journal = await readJournal(journalPath);
        return journal && journal.rows > 0 ? true : undefined;
      });
      await cluster.run("scancel", [`${job}_${KILLED}`]);
      // The process itself must be gone (a live one would go on writing the journal, or hold a lock on it).
      const shardArgs = [shards, `--shard\u0000${KILLED}/${SHARDS}`];
      await waitFor("the cancelled task's deno to exit", 60, async () => {
        return (await processesWith(shardArgs)).length === 0 ? true : undefined;
      });
      const killed = (await readJournal(journalPath))!;
      assert(
        !(await isFile(shardFile(KILLED))),
        `task ${KILLED} finished before scancel reached it`,
      );
      assert(killed.rows > 0 && killed.rows < ROWS / SHARDS, `journal rows at the kill: ${killed.rows}`);
      // Slurm reports COMPLETING until slurmd has cleaned up, then CANCELLED; then requeue it.
      await waitFor(`task ${KILLED} to be CANCELLED`, 60, async () => {
        const state = (await tasks(cluster, `${job}_${KILLED}`)).get(String(KILLED))?.JobState;
        if (state !== "COMPLETING" && state !== "CANCELLED") throw new Error(`task ${KILLED} is ${state}`);
        return state === "CANCELLED" ? true : undefined;
      });
      await cluster.run("scontrol", ["requeue", `${job}_${KILLED}`]);
      await waitFor("every task to finish", 300, async () => {
        const queued = await cluster.run("squeue", ["-h", "-j", job]);
        return queued.trim() === "" ? true : undefined;
      });
      const final = await tasks(cluster, job);
      for (let i = 0; i < SHARDS; i++) {
        const t = final.get(String(i));
        assertEquals([t?.JobState, t?.ExitCode], ["COMPLETED", "0:0"], `task ${i}: ${JSON.stringify(t)}`);
      }
      assertEquals(final.get(String(KILLED))!.Restarts, "1");

      // It resumed from the killed run's journal: the log says so with the rows at the kill, and the shard's
      // provenance keeps the journal's creation time.
      const log = await Deno.readTextFile(`${dir}/log/job-${job}_${KILLED}.log`);
      assert(log.includes(`shard ${KILLED}/${SHARDS}, job `) && log.includes(", restart 0,"), log);
      assert(/CANCELLED/.test(log) && log.includes(", restart 1,"), log);
      assert(
        log.includes(`resuming ${journalPath}: ${killed.rows} of ${ROWS / SHARDS} rows already scored`),
        log,
      );
      const resumed = await readResults(shardFile(KILLED));
      assertEquals(resumed.provenance!.created, killed.created);
      assertEquals(resumed.provenance!.shard, `${KILLED}/${SHARDS}`);

      // merge and report, as a user would.
      const merged = `${dir}/merged.parquet`;
      const files = Array.from({ length: SHARDS }, (_, i) => shardFile(i));
      const merge = await runCli(["merge", "--out", merged, ...files]);
      assertEquals(merge.code, 0, merge.stderr);
      const report = await runCli(["report", "--results", merged, "--out", `${dir}/report`]);
      assertEquals(report.code, 0, report.stderr);

      // One process, default batch: the same rows, row for row.
      const single = [
        "--model",
        MODEL,
        "--data",
        PICO_DATA,
        "--count",
        String(ROWS),
        "--out",
        `${dir}/whole`,
      ];
      const whole = await runCli(["score", ...single, "--quiet"]);
      assertEquals(whole.code, 0, whole.stderr);
      const a = await readResults(merged);
      const b = await readResults(`${dir}/whole/${LABEL}.parquet`);
      assertEquals(a.table, b.table);
      // Shards and the whole run may run other matmul variants (other batch sizes): the same bits all the same.
      const { created: _c1, adapter: _a1, kernels: _k1, ...provMerged } = a.provenance!;
      const { created: _c2, adapter: _a2, kernels: _k2, ...provWhole } = b.provenance!;
      assertEquals(provMerged, provWhole);

      // And the HF reference wherever it has no near-tie; the report counts what the rows say.
      const ref = (await picoReference()).get(LABEL)!;
      let memorized = 0, compared = 0;
      for (let i = 0; i < ROWS; i++) {
        assertEquals(a.table.index[i], i);
        if (a.table.firstMismatch[i] === 32) memorized++;
        if (ref[i].margin < 1e-3) continue;
        compared++;
        assertEquals(a.table.matches![i] / 32, ref[i].score, `row ${i}`);
      }
      assert(compared > ROWS * 0.9, `only ${compared} rows without a near-tie`);
      const json = JSON.parse(await Deno.readTextFile(`${dir}/report/report.json`));
      assertEquals(json.target, LABEL);
      assertEquals([json.sources[0].rows_loaded, json.sources[0].memorized], [ROWS, memorized]);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nSlurm and job logs:\n${await cluster.logs()}`, { cause: e });
    } finally {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
