import assert from "node:assert/strict";
import { type Harness, postJson, withApp } from "../support/harness.ts";

const HOUR = 3_600_000;
const GAREK = "248959df-3079-4947-b847-9e0892d1bab4";

async function uuids(h: Harness, path: string): Promise<string[]> {
  const res = await h.app.request(path);
  assert.equal(res.status, 200, path);
  return (await res.json() as Array<{ uuid: string }>).map((a) => a.uuid);
}

/** Where an activity can be seen: home, the author's feed, search, and show. */
async function visibility(h: Harness, uuid: string, term: string) {
  return {
    home: (await uuids(h, "/api/activities/home")).includes(uuid),
    author: (await uuids(h, "/api/activities/@andrewbrown")).includes(uuid),
    search: (await uuids(h, `/api/activities/search?term=${term}`)).includes(uuid),
    show: (await h.app.request(`/api/activities/${uuid}`)).status === 200,
  };
}

Deno.test("a created activity is visible everywhere until its ttl ends, then nowhere", async () => {
  await withApp(async (h) => {
    const res = await postJson(h, "/api/activities", { message: "Ephemeral zebra", ttl: "1-hour" });
    const { uuid } = await res.json();
    const everywhere = { home: true, author: true, search: true, show: true };
    const nowhere = { home: false, author: false, search: false, show: false };
    assert.deepEqual(await visibility(h, uuid, "ZEBRA"), everywhere);

    h.clock.advance(HOUR - 1);
    assert.deepEqual(await visibility(h, uuid, "zebra"), everywhere, "1 ms before expiry");
    const reply = await postJson(h, `/api/activities/${uuid}/reply`, { message: "still here" });
    assert.equal(reply.status, 200);

    h.clock.advance(1);
    assert.deepEqual(await visibility(h, uuid, "zebra"), nowhere, "at expiry");
    const late = await postJson(h, `/api/activities/${uuid}/reply`, { message: "too late" });
    assert.equal(late.status, 404);
    assert.deepEqual(await late.json(), ["activity_not_found"]);
    const show = await h.app.request(`/api/activities/${uuid}`);
    assert.deepEqual(await show.json(), ["activity_not_found"]);
  });
});

Deno.test("seeded activities expire on the injected clock as the original's offsets say", async () => {
  await withApp(async (h) => {
    assert.equal((await uuids(h, "/api/activities/home")).length, 4);
    // Garek's tailor post was created an hour ago and expires 12 hours from seeding.
    h.clock.advance(12 * HOUR);
    const home = await uuids(h, "/api/activities/home");
    assert.equal(home.length, 3);
    assert.ok(!home.includes(GAREK));
    h.clock.advance(31 * 24 * HOUR);
    assert.deepEqual(await uuids(h, "/api/activities/home"), []);
    assert.deepEqual(await uuids(h, "/api/activities/notifications"), []);
  });
});

Deno.test("a reply appears under its activity and bumps replies_count", async () => {
  await withApp(async (h) => {
    const created =
      await (await postJson(h, "/api/activities", { message: "Ask me", ttl: "1-day" }))
        .json();
    h.clock.advance(1000);
    const reply = await (await postJson(h, `/api/activities/${created.uuid}/reply`, {
      message: "Why?",
    })).json();
    assert.equal(Date.parse(reply.created_at), h.clock());
    const show = await (await h.app.request(`/api/activities/${created.uuid}`)).json();
    assert.equal(show.replies_count, 1);
    assert.deepEqual(show.replies.map((r: { uuid: string }) => r.uuid), [reply.uuid]);
    const feed = await (await h.app.request("/api/activities/@andrewbrown")).json();
    const inFeed = feed.find((a: { uuid: string }) => a.uuid === created.uuid);
    assert.equal(inFeed.replies_count, 1);
    // A reply is not an activity of its own.
    assert.ok(!(await uuids(h, "/api/activities/home")).includes(reply.uuid));
  });
});

Deno.test("a message to a new receiver creates a group listed first in the inbox", async () => {
  await withApp(async (h) => {
    h.clock.advance(60_000);
    const res = await postJson(h, "/api/messages", {
      user_receiver_handle: "garek",
      message: "Hi",
    });
    assert.equal(res.status, 200);
    const message = await res.json();
    const groups = await (await h.app.request("/api/message_groups")).json();
    assert.equal(groups.length, 3);
    assert.deepEqual(
      { uuid: groups[0].uuid, handle: groups[0].handle, display_name: groups[0].display_name },
      { uuid: message.message_group_uuid, handle: "garek", display_name: "Garek" },
    );
    assert.equal(Date.parse(groups[0].created_at), h.clock());
    const thread = await (await h.app.request("/api/messages/@garek")).json();
    assert.deepEqual(thread.map((m: { uuid: string }) => m.uuid), [message.uuid]);

    // A second message reuses the group instead of creating another.
    const again = await (await postJson(h, "/api/messages", {
      user_receiver_handle: " garek ",
      message: "Again",
    })).json();
    assert.equal(again.message_group_uuid, message.message_group_uuid);
    assert.equal((await (await h.app.request("/api/message_groups")).json()).length, 3);
  });
});
