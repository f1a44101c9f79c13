// A backend's push, from Node: node examples/http/node/push.mjs "some text"
import { batch, gateway, GatewayError } from "./gateway.mjs";

const text = process.argv[2] ?? "hello from node";

// to every connected page (an object is sent as its JSON text)
await gateway("send_to_all", { message: { action_type: "notice", content: text } });

// who is online; "missing" names the gateways that did not answer in time
const { result: online, missing } = await gateway("get_all_client_id_count");
console.log(`online: ${online}${missing.length ? ` (not counted: ${missing.join(", ")})` : ""}`);

// thousands of sends in one request: one reply per call, in order
const replies = await batch([
  ["send_to_group", { group: "room-1", message: `${text} (room-1)` }],
  ["get_client_id_count_by_group", { group: "room-1" }],
]);
console.log(`room-1: ${replies[1].result}`);

// a refused call says which argument and why
try {
  await gateway("join_group", { client_id: "not-an-id", group: "room-1" });
} catch (error) {
  if (!(error instanceof GatewayError)) throw error;
  console.log(`refused: ${error.status} ${error.code}: ${error.message}`);
}
