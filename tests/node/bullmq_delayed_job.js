// BullMQ: a queue with a worker processing a delayed job, and an ordinary one, then their results.
// Usage: node bullmq_delayed_job.js PORT; prints a JSON summary, exits non-zero on failure.
"use strict";
const { Queue, Worker } = require("bullmq");
const assert = require("assert");

async function main(port) {
  const connection = { host: "127.0.0.1", port };
  const name = `leakdb-${process.pid}`;
  const queue = new Queue(name, { connection });
  const results = {};
  let finish;
  const bothDone = new Promise((resolve) => {
    finish = resolve;
  });
  const worker = new Worker(name, async (job) => job.data.a + job.data.b, { connection });
  worker.on("completed", (job, value) => {
    results[job.name] = value;
    if (Object.keys(results).length === 2) finish();
  });
  worker.on("failed", (job, error) => finish(error));
  await worker.waitUntilReady();
  const delayed = await queue.add("delayed", { a: 40, b: 2 }, { delay: 300 });
  assert.strictEqual(await delayed.getState(), "delayed");
  await queue.add("now", { a: 1, b: 1 });
  const guard = setTimeout(() => finish(new Error("jobs not finished in 30 s")), 30000);
  const problem = await bothDone;
  clearTimeout(guard);
  if (problem) throw problem;
  assert.deepStrictEqual(results, { now: 2, delayed: 42 });
  assert.strictEqual(await delayed.getState(), "completed");
  const counts = await queue.getJobCounts("completed", "delayed", "failed", "waiting");
  assert.deepStrictEqual(
    [counts.completed, counts.delayed, counts.failed, counts.waiting],
    [2, 0, 0, 0],
  );
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return { results, counts };
}

main(Number(process.argv[2])).then(
  (summary) => console.log(JSON.stringify(summary)),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
