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
  client.page({ anonymousId: anonymous, name: "Home", properties: { path: "/" } });
  client.identify({
    userId: user,
    anonymousId: anonymous,
    traits: { name: "김민지", email: `${prefix}@example.com`, phone: "010-2345-6789" },
  });
  client.track({ userId: user, event: "Order Completed", properties: order });
  for (let i = 0; i < 12; i++) {
    client.track({ userId: user, event: "Product Viewed", properties: { i } });
  }
  client.alias({ userId: user, previousId: `${prefix}-other` });
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
  const answered = [];
  const call = (method, message) =>
    answered.push(
      new Promise((resolve) =>
        client[method](message, (error) => {
          if (error) errors.push(String(error));
          resolve();
        }),
      ),
    );
  call("page", { anonymousId: anonymous, name: "Home", properties: { path: "/" } });
  call("identify", {
    userId: user,
    anonymousId: anonymous,
    traits: { name: "김민지", email: `${prefix}@example.com`, phone: "010-2345-6789" },
  });
  call("track", { userId: user, event: "Order Completed", properties: order });
  for (let i = 0; i < 12; i++) {
    call("track", { userId: user, event: "Product Viewed", properties: { i } });
  }
  call("alias", { userId: user, previousId: `${prefix}-other` });
  // flush() sends one batch of up to flushAt calls: again until every call was answered.
  const all = Promise.all(answered);
  let done = false;
  all.then(() => (done = true));
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
