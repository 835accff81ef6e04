// ioredis defineCommand: a Lua command sent as EVALSHA, loaded with EVAL on NOSCRIPT, in a pipeline too.
// Usage: node ioredis_define_command.js PORT; prints a JSON summary, exits non-zero on failure.
"use strict";
const Redis = require("ioredis");
const assert = require("assert");

async function main(port) {
  const redis = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await redis.flushall();
  await redis.script("FLUSH");
  redis.defineCommand("incrCapped", {
    numberOfKeys: 1,
    lua: `
      local current = tonumber(redis.call('GET', KEYS[1]) or '0')
      if current >= tonumber(ARGV[1]) then return {current, 'capped'} end
      return {redis.call('INCR', KEYS[1]), 'ok'}`,
  });
  const first = await redis.incrCapped("counter", 2);
  const second = await redis.incrCapped("counter", 2);
  const third = await redis.incrCapped("counter", 2);
  assert.deepStrictEqual([first, second, third], [[1, "ok"], [2, "ok"], [2, "capped"]]);
  const piped = await redis.pipeline().incrCapped("other", 5).incrCapped("other", 5).exec();
  assert.deepStrictEqual(piped, [[null, [1, "ok"]], [null, [2, "ok"]]]);
  let failure = null;
  try {
    await redis.eval("return redis.call('nosuch')", 0);
  } catch (error) {
    failure = error.message;
  }
  assert.match(failure, /Unknown Redis command called from script/);
  await redis.quit();
  return { first, second, third, piped: piped.map((entry) => entry[1]), failure };
}

main(Number(process.argv[2])).then(
  (summary) => console.log(JSON.stringify(summary)),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
