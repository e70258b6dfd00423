import assert from "node:assert/strict";
import { getJson, type Harness, postJson, withApp } from "../support/harness.ts";

const WORF_GROUP = "417c360e-c4e6-4fce-873b-d2d71469b4ac";
const SELF_GROUP = "24b95582-9e7b-4e0a-9ad1-639773ab7552";

function postMessage(h: Harness, body: unknown): Promise<Response> {
  return postJson(h, "/api/messages", body);
}

type Row = Record<string, unknown>;

Deno.test("GET /api/message_groups returns the seed's two conversations", async () => {
  await withApp(async (h) => {
    const { status, body } = await getJson<Row[]>(h, "/api/message_groups");
    assert.equal(status, 200);
    assert.deepEqual(
      body.map((g) => [g.uuid, g.display_name, g.handle]).sort(),
      [
        [SELF_GROUP, "Andrew Brown", "andrewbrown"],
        [WORF_GROUP, "Worf", "worf"],
      ],
    );
    for (const group of body) assert.ok(!Number.isNaN(Date.parse(String(group.created_at))));
  });
});

Deno.test("GET /api/messages/@:handle returns that conversation oldest first", async () => {
  await withApp(async (h) => {
    const { status, body } = await getJson<Row[]>(h, "/api/messages/@worf");
    assert.equal(status, 200);
    assert.deepEqual(body.map((m) => m.message), ["Cloud is fun!", "This platform is great!"]);
    assert.ok(body.every((m) => m.message_group_uuid === WORF_GROUP));
    assert.ok(body.every((m) => m.handle === "andrewbrown"));

    const stranger = await getJson<Row[]>(h, "/api/messages/@garek");
    assert.equal(stranger.status, 200);
    assert.deepEqual(stranger.body, []);
  });
});

Deno.test("GET /api/messages/@ with a blank handle answers 422 blank_user_handle", async () => {
  await withApp(async (h) => {
    for (const path of ["/api/messages/@", "/api/messages/@%20"]) {
      const res = await h.app.request(path);
      assert.equal(res.status, 422, path);
      assert.deepEqual(await res.json(), ["blank_user_handle"], path);
    }
  });
});

Deno.test("POST /api/messages appends to an existing conversation", async () => {
  await withApp(async (h) => {
    const res = await postMessage(h, { user_receiver_handle: "worf", message: "Qapla'" });
    assert.equal(res.status, 200);
    const message = await res.json() as Row;
    assert.equal(message.message_group_uuid, WORF_GROUP);
    assert.equal(message.handle, "andrewbrown");
    assert.equal(message.display_name, "Andrew Brown");
    assert.equal(message.message, "Qapla'");
    assert.equal(Date.parse(String(message.created_at)), h.clock());

    const thread = await getJson<Row[]>(h, "/api/messages/@worf");
    assert.deepEqual(thread.body.map((m) => m.uuid).at(-1), message.uuid);
    assert.equal(thread.body.length, 3);
  });
});

Deno.test("POST /api/messages answers 422 with the original's codes, reciever spelling included", async () => {
  const cases: Array<[unknown, string[]]> = [
    [{ message: "hi" }, ["user_reciever_handle_blank"]],
    [{ user_receiver_handle: " ", message: "hi" }, ["user_reciever_handle_blank"]],
    [{ user_receiver_handle: 7, message: "hi" }, ["user_reciever_handle_blank"]],
    [{ user_receiver_handle: "worf" }, ["message_blank"]],
    [{ user_receiver_handle: "worf", message: "\n" }, ["message_blank"]],
    [{ user_receiver_handle: "worf", message: "m".repeat(1025) }, ["message_exceed_max_chars"]],
    [{}, ["user_reciever_handle_blank", "message_blank"]],
  ];
  await withApp(async (h) => {
    for (const [body, codes] of cases) {
      const res = await postMessage(h, body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(await res.json(), codes, JSON.stringify(body));
    }
    const longest = await postMessage(h, {
      user_receiver_handle: "worf",
      message: "m".repeat(1024),
    });
    assert.equal(longest.status, 200);
    const thread = await getJson<Row[]>(h, "/api/messages/@worf");
    assert.equal(thread.body.length, 3, "only the valid message was stored");
  });
});
