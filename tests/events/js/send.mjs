// Sends one customer's calls through a real analytics SDK, unchanged, to a cxloop server.
//   node send.mjs segment|rudderstack BASE_URL WRITE_KEY PREFIX
// PREFIX keeps the ids of one test apart from another's. Prints what the SDK reported as
// errors (one JSON line) and exits 1 when there were any.
import { createRequire } from "node:module";

const [sdk, base, writeKey, prefix] = process.argv.slice(2);
const errors = [];
const user = `${prefix}-user`;
const anonymous = `${prefix}-anon`;
const order = {
  order_id: `${prefix}-order`,
  total: 39000,
  currency: "KRW",
  products: [{ product_id: "P-7", name: "보리차", price: 19500, quantity: 2 }],
};
// The same calls through either SDK: a visit, a sign-up, an order, product views, an alias.
const calls = [
  ["page", { anonymousId: anonymous, name: "Home", properties: { path: "/" } }],
  [
    "identify",
    {
      userId: user,
      anonymousId: anonymous,
      traits: { name: "김민지", email: `${prefix}@example.com`, phone: "010-2345-6789" },
    },
  ],
  ["track", { userId: user, event: "Order Completed", properties: order }],
  ...Array.from({ length: 12 }, (_, i) => [
    "track",
    { userId: user, event: "Product Viewed", properties: { i } },
  ]),
  ["alias", { userId: user, previousId: `${prefix}-other` }],
];

async function segment() {
  const { Analytics } = await import("@segment/analytics-node");
  const client = new Analytics({
    writeKey,
    host: base,
    maxEventsInBatch: 5,
    flushInterval: 50,
    maxRetries: 2,
  });
  client.on("error", (error) => errors.push(String(error?.reason ?? error)));
  for (const [method, message] of calls) client[method](message);
  await client.closeAndFlush({ timeout: 20000 });
}

async function rudderstack() {
  const require = createRequire(import.meta.url);
  const Analytics = require("@rudderstack/rudder-sdk-node");
  const client = new Analytics(writeKey, {
    dataPlaneUrl: base,
    flushAt: 5,
    flushInterval: 50,
    logLevel: "error",
  });
  // Each call's callback runs once its batch was answered (with the error, if any).
  const answered = calls.map(
    ([method, message]) =>
      new Promise((resolve) =>
        client[method](message, (error) => {
          if (error) errors.push(String(error));
          resolve();
        }),
      ),
  );
  // flush() sends one batch of up to flushAt calls: again until every call was answered.
  let done = false;
  Promise.all(answered).then(() => (done = true));
  while (!done) {
    await client.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

try {
  await (sdk === "segment" ? segment() : rudderstack());
} catch (error) {
  errors.push(String(error?.stack ?? error));
}
console.log(JSON.stringify({ errors }));
process.exit(errors.length ? 1 : 0);
