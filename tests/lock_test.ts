// The results-file lock (io/lock.ts): a lock left by a dead run of this host is taken over by exactly one of the
// runs that find it at the same moment, whatever the order in which their file operations interleave; a live
// holder's lock is never removed. Racers are concurrent acquire calls in this process, each of Deno's file
// operations delayed by a seeded random number of event-loop turns before and after it (the interleavings two
// processes could produce, op by op), many seeds.
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { FileLock } from "../io/lock.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { withTempDir } from "./helpers.ts";

/** The pid of a process that has ended (a lock naming it is stale). */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

const FILE_OPS = ["readTextFile", "writeTextFile", "remove", "link", "rename", "stat", "lstat"] as const;

/** Runs `fn` with Deno's file operations (those the lock may use) delayed by 0–3 turns of the event loop before
 *  and after each, from a PRNG seeded with `seed`. */
async function interleaved<T>(seed: number, fn: () => Promise<T>): Promise<T> {
  const deno = Deno as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const saved = FILE_OPS.map((name) => deno[name]);
  let s = seed >>> 0;
  const random = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
  const pause = async () => {
    for (let k = random() % 8; k > 0; k--) {
      await Promise.resolve();
    }
  };
  FILE_OPS.forEach((name, k) => {
    deno[name] = async (...args: unknown[]) => {
      await pause();
      try {
        return await saved[k](...args);
      } finally {
        await pause();
      }
    };
  });
  try {
    return await fn();
  } finally {
    FILE_OPS.forEach((name, k) => deno[name] = saved[k]);
  }
}

Deno.test("lock: a stale lock found by several runs at once is taken over by exactly one, in any interleaving", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "x.parquet");
    const stale = JSON.stringify({ pid: await deadPid(), host: Deno.hostname(), started: "2026-01-01" }) +
      "\n";
    for (let seed = 1; seed <= 200; seed++) {
      await Deno.writeTextFile(`${target}.lock`, stale);
      const racers = seed % 2 ? 2 : 3;
      const outcomes = await interleaved(
        seed,
        () => Promise.allSettled(Array.from({ length: racers }, () => FileLock.acquire(target))),
      );
      const won = outcomes.flatMap((o) => o.status === "fulfilled" ? [o.value] : []);
      for (const o of outcomes) {
        if (o.status === "rejected") {
          assert(o.reason instanceof EngramError, String(o.reason));
          assert(
            o.reason.message.includes(`being written by another run (pid ${Deno.pid}`),
            o.reason.message,
          );
        }
      }
      assertEquals(won.length, 1, `seed ${seed}: ${won.length} of ${racers} runs hold the lock`);
      const holder = JSON.parse(await Deno.readTextFile(`${target}.lock`));
      assertEquals(holder.pid, Deno.pid, `seed ${seed}: the winner's lock is the one in place`);
      won[0].release();
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [], `seed ${seed}: nothing left behind`);
    }
  });
});

Deno.test("lock: a live holder's lock is left alone; a takeover interrupted by a kill is named, not guessed at", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "x.csv");
    const live = JSON.stringify({ pid: Deno.pid, host: Deno.hostname(), started: "2026-01-01" });
    await Deno.writeTextFile(`${target}.lock`, live);
    await assertRejects(() => FileLock.acquire(target), EngramError, `pid ${Deno.pid} on ${Deno.hostname()}`);
    assertEquals(await Deno.readTextFile(`${target}.lock`), live);
    // A run killed while taking over a stale lock leaves its second name of the lock file: the next run waits
    // for that takeover, then says what to delete (it cannot tell a killed takeover from a slow one).
    const stale = JSON.stringify({ pid: await deadPid(), host: Deno.hostname(), started: "2026-01-01" });
    await Deno.writeTextFile(`${target}.lock`, stale);
    await Deno.link(`${target}.lock`, `${target}.lock.takeover`);
    await assertRejects(() => FileLock.acquire(target), EngramError, `delete ${target}.lock.takeover`);
    assertEquals(await Deno.readTextFile(`${target}.lock`), stale);
    await Deno.remove(`${target}.lock.takeover`);
    (await FileLock.acquire(target)).release();
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), []);
  });
});
