import assert from "node:assert/strict";
import { getJson, postJson, withApp } from "../support/harness.ts";

interface ActivityJson {
  uuid: string;
  display_name: string;
  handle: string;
  message: string;
  likes_count: number;
  replies_count: number;
  reposts_count: number;
  created_at: string;
  expires_at: string;
  replies: Array<Record<string, unknown>>;
}

const GAREK = "248959df-3079-4947-b847-9e0892d1bab4";
const CLOUD_FUN = "7b5f6a1e-2c1d-4d7e-9a55-2f0c8a3e1b42";
const CLOUD_VERY_FUN = "68f126b0-1ceb-4a33-88be-d90fa7109eee";
const PRUNE_JUICE = "66e12864-8c26-4c3a-9658-95a10f8fea67";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

Deno.test("GET /api/activities/home returns the seed's activities newest first with nested replies", async () => {
  await withApp(async (h) => {
    const res = await h.app.request("/api/activities/home");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    const body = await res.json() as ActivityJson[];
    // Three from HomeActivities plus the one UserActivities sample.
    assert.deepEqual(body.map((a) => a.uuid), [GAREK, CLOUD_FUN, CLOUD_VERY_FUN, PRUNE_JUICE]);
    const times = body.map((a) => Date.parse(a.created_at));
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
    const first = body.find((a) => a.uuid === CLOUD_VERY_FUN);
    assert.ok(first);
    assert.equal(first.handle, "andrewbrown");
    assert.equal(first.display_name, "Andrew Brown");
    assert.equal(first.message, "Cloud is very fun!");
    assert.equal(first.likes_count, 5);
    assert.equal(first.replies_count, 1);
    assert.deepEqual(first.replies.map((r) => [r.handle, r.message, r.reply_to_activity_uuid]), [
      ["worf", "This post has no honor!", CLOUD_VERY_FUN],
    ]);
    // Expiry is relative to the injected clock: seeded 2 days ago, expiring in 5.
    assert.equal(Date.parse(first.expires_at) - h.clock(), 5 * 86_400_000);
    assert.equal(Date.parse(first.created_at) - h.clock(), -2 * 86_400_000);
    // The notification sample belongs to another feed.
    assert.ok(!body.some((a) => a.handle === "coco"));
  });
});

Deno.test("HEAD /api/activities/home answers 200 without a body", async () => {
  await withApp(async (h) => {
    const res = await h.app.request("/api/activities/home", { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "");
  });
});

Deno.test("GET /api/activities/notifications returns the Coco Melon sample only", async () => {
  await withApp(async (h) => {
    const { status, body } = await getJson<ActivityJson[]>(h, "/api/activities/notifications");
    assert.equal(status, 200);
    assert.equal(body.length, 1);
    const [coco] = body;
    assert.ok(coco);
    assert.equal(coco.display_name, "Coco Melon");
    assert.equal(coco.handle, "coco");
    assert.equal(coco.message, "I am white unicorn");
    assert.equal(coco.replies_count, 1);
    assert.equal(coco.replies[0]?.message, "This post has no honor!");
  });
});

Deno.test("GET /api/activities/@:handle returns only that author's activities", async () => {
  await withApp(async (h) => {
    const mine = await getJson<ActivityJson[]>(h, "/api/activities/@andrewbrown");
    assert.equal(mine.status, 200);
    assert.deepEqual(mine.body.map((a) => a.uuid), [CLOUD_FUN, CLOUD_VERY_FUN]);
    assert.ok(mine.body.every((a) => a.handle === "andrewbrown"));

    const worf = await getJson<ActivityJson[]>(h, "/api/activities/@worf");
    assert.deepEqual(worf.body.map((a) => a.uuid), [PRUNE_JUICE]);

    const nobody = await getJson<ActivityJson[]>(h, "/api/activities/@nobody");
    assert.equal(nobody.status, 200);
    assert.deepEqual(nobody.body, []);

    // Percent-encoded handles are decoded before the lookup.
    const encoded = await getJson<ActivityJson[]>(h, "/api/activities/@%77orf");
    assert.deepEqual(encoded.body.map((a) => a.uuid), [PRUNE_JUICE]);
  });
});

Deno.test("GET /api/activities/@ with a blank handle answers 422 blank_user_handle", async () => {
  await withApp(async (h) => {
    for (const path of ["/api/activities/@", "/api/activities/@%20", "/api/activities/@%20%09"]) {
      const res = await h.app.request(path);
      assert.equal(res.status, 422, path);
      assert.deepEqual(await res.json(), ["blank_user_handle"], path);
    }
  });
});

Deno.test("GET /api/activities/search matches the term case-insensitively", async () => {
  await withApp(async (h) => {
    const upper = await getJson<ActivityJson[]>(h, "/api/activities/search?term=CLOUD");
    assert.equal(upper.status, 200);
    assert.deepEqual(upper.body.map((a) => a.uuid), [CLOUD_FUN, CLOUD_VERY_FUN]);
    const spaced = await getJson<ActivityJson[]>(h, "/api/activities/search?term=%20prune%20");
    assert.deepEqual(spaced.body.map((a) => a.uuid), [PRUNE_JUICE]);
    const none = await getJson<ActivityJson[]>(h, "/api/activities/search?term=kubernetes");
    assert.equal(none.status, 200);
    assert.deepEqual(none.body, []);
  });
});

Deno.test("GET /api/activities/search without a term answers 422 search_term_blank", async () => {
  await withApp(async (h) => {
    for (
      const path of [
        "/api/activities/search",
        "/api/activities/search?term=",
        "/api/activities/search?term=%20%20",
        "/api/activities/search?other=cloud",
      ]
    ) {
      const res = await h.app.request(path);
      assert.equal(res.status, 422, path);
      assert.deepEqual(await res.json(), ["search_term_blank"], path);
    }
  });
});

Deno.test("POST /api/activities creates an activity that lives for its ttl", async () => {
  await withApp(async (h) => {
    const res = await postJson(h, "/api/activities", { message: "Hello from Deno", ttl: "7-days" });
    assert.equal(res.status, 200);
    const activity = await res.json() as ActivityJson;
    assert.match(activity.uuid, UUID);
    assert.equal(activity.handle, "andrewbrown");
    assert.equal(activity.display_name, "Andrew Brown");
    assert.equal(activity.message, "Hello from Deno");
    assert.equal(activity.replies_count, 0);
    assert.equal(activity.likes_count, 0);
    assert.deepEqual(activity.replies, []);
    assert.equal(Date.parse(activity.created_at), h.clock());
    assert.equal(Date.parse(activity.expires_at), h.clock() + 7 * 86_400_000);

    const home = await getJson<ActivityJson[]>(h, "/api/activities/home");
    assert.equal(home.body[0]?.uuid, activity.uuid, "the newest activity comes first");
    assert.equal(home.body.length, 5);
  });
});

Deno.test("POST /api/activities accepts every ttl the original offered", async () => {
  const hours: Record<string, number> = {
    "30-days": 720,
    "7-days": 168,
    "3-days": 72,
    "1-day": 24,
    "12-hours": 12,
    "3-hours": 3,
    "1-hour": 1,
  };
  await withApp(async (h) => {
    for (const [ttl, n] of Object.entries(hours)) {
      const res = await postJson(h, "/api/activities", { message: `ttl ${ttl}`, ttl });
      assert.equal(res.status, 200, ttl);
      const activity = await res.json() as ActivityJson;
      assert.equal(Date.parse(activity.expires_at) - h.clock(), n * 3_600_000, ttl);
    }
  });
});

Deno.test("POST /api/activities answers 422 with the original's codes for bad input", async () => {
  const cases: Array<[unknown, string[]]> = [
    [{ message: "hi" }, ["ttl_blank"]],
    [{ message: "hi", ttl: "" }, ["ttl_blank"]],
    [{ message: "hi", ttl: "2-weeks" }, ["ttl_blank"]],
    [{ message: "hi", ttl: 7 }, ["ttl_blank"]],
    // Inherited object keys are not ttls.
    [{ message: "hi", ttl: "constructor" }, ["ttl_blank"]],
    [{ ttl: "1-day" }, ["message_blank"]],
    [{ ttl: "1-day", message: "" }, ["message_blank"]],
    [{ ttl: "1-day", message: " \n\t " }, ["message_blank"]],
    [{ ttl: "1-day", message: 42 }, ["message_blank"]],
    [{ ttl: "1-day", message: "x".repeat(281) }, ["message_exceed_max_chars"]],
    [{}, ["ttl_blank", "message_blank"]],
    [{ ttl: "nope", message: "y".repeat(300) }, ["ttl_blank", "message_exceed_max_chars"]],
  ];
  await withApp(async (h) => {
    for (const [body, codes] of cases) {
      const res = await postJson(h, "/api/activities", body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(await res.json(), codes, JSON.stringify(body));
    }
    // Nothing invalid was stored.
    const home = await getJson<ActivityJson[]>(h, "/api/activities/home");
    assert.equal(home.body.length, 4);
  });
});

Deno.test("POST /api/activities counts characters as code points: 280 fit, 281 do not", async () => {
  await withApp(async (h) => {
    const ok = await postJson(h, "/api/activities", { ttl: "1-day", message: "a".repeat(280) });
    assert.equal(ok.status, 200);
    // 280 emoji are 560 UTF-16 units but 280 characters, as Python's len() counted them.
    const emoji = "\u{1F984}".repeat(280);
    assert.equal(emoji.length, 560);
    const okEmoji = await postJson(h, "/api/activities", { ttl: "1-day", message: emoji });
    assert.equal(okEmoji.status, 200);
    assert.equal((await okEmoji.json() as ActivityJson).message, emoji);
    const over = await postJson(h, "/api/activities", { ttl: "1-day", message: `${emoji}!` });
    assert.equal(over.status, 422);
    assert.deepEqual(await over.json(), ["message_exceed_max_chars"]);
  });
});

Deno.test("GET /api/activities/:uuid returns the activity with its replies", async () => {
  await withApp(async (h) => {
    const { status, body } = await getJson<ActivityJson>(h, `/api/activities/${CLOUD_VERY_FUN}`);
    assert.equal(status, 200);
    assert.equal(body.uuid, CLOUD_VERY_FUN);
    assert.equal(body.message, "Cloud is very fun!");
    assert.equal(body.replies_count, 1);
    assert.deepEqual(body.replies.map((r) => r.uuid), ["26e12864-1c26-5c3a-9658-97a10f8fea67"]);
  });
});

Deno.test("GET /api/activities/:uuid answers 404 activity_not_found for an unknown uuid", async () => {
  await withApp(async (h) => {
    for (const uuid of [crypto.randomUUID(), "not-a-uuid"]) {
      const res = await h.app.request(`/api/activities/${uuid}`);
      assert.equal(res.status, 404, uuid);
      assert.deepEqual(await res.json(), ["activity_not_found"], uuid);
    }
  });
});

Deno.test("POST /api/activities/:uuid/reply adds a reply and bumps replies_count in home and show", async () => {
  await withApp(async (h) => {
    const res = await postJson(h, `/api/activities/${PRUNE_JUICE}/reply`, { message: "Try tea" });
    assert.equal(res.status, 200);
    const reply = await res.json() as Record<string, unknown>;
    assert.match(String(reply.uuid), UUID);
    assert.equal(reply.reply_to_activity_uuid, PRUNE_JUICE);
    assert.equal(reply.handle, "andrewbrown");
    assert.equal(reply.message, "Try tea");
    assert.equal(reply.replies_count, 0);

    const show = await getJson<ActivityJson>(h, `/api/activities/${PRUNE_JUICE}`);
    assert.equal(show.body.replies_count, 1);
    assert.deepEqual(show.body.replies.map((r) => r.uuid), [reply.uuid]);

    const second = await postJson(h, `/api/activities/${PRUNE_JUICE}/reply`, { message: "Or not" });
    assert.equal(second.status, 200);
    const home = await getJson<ActivityJson[]>(h, "/api/activities/home");
    const juice = home.body.find((a) => a.uuid === PRUNE_JUICE);
    assert.equal(juice?.replies_count, 2);
    assert.deepEqual(juice?.replies.map((r) => r.message), ["Try tea", "Or not"]);
    // Other activities are untouched.
    assert.equal(home.body.find((a) => a.uuid === GAREK)?.replies_count, 0);
  });
});

Deno.test("POST /api/activities/:uuid/reply answers 422 for a bad message and 404 for an unknown activity", async () => {
  await withApp(async (h) => {
    const cases: Array<[unknown, string[]]> = [
      [{}, ["message_blank"]],
      [{ message: "   " }, ["message_blank"]],
      [{ message: ["a"] }, ["message_blank"]],
      [{ message: "r".repeat(1025) }, ["message_exceed_max_chars"]],
    ];
    for (const [body, codes] of cases) {
      const res = await postJson(h, `/api/activities/${GAREK}/reply`, body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(await res.json(), codes, JSON.stringify(body));
    }
    const longest = await postJson(h, `/api/activities/${GAREK}/reply`, {
      message: "r".repeat(1024),
    });
    assert.equal(longest.status, 200);

    const missing = await postJson(h, `/api/activities/${crypto.randomUUID()}/reply`, {
      message: "hello?",
    });
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), ["activity_not_found"]);

    const show = await getJson<ActivityJson>(h, `/api/activities/${GAREK}`);
    assert.equal(show.body.replies_count, 1, "only the valid reply was stored");
  });
});

Deno.test("feeds page newest first: ?limit, a Link to the next page, 400 for a bad limit or cursor", async () => {
  await withApp(async (h) => {
    for (let i = 0; i < 25; i++) {
      h.clock.advance(1000);
      assert.equal(
        (await postJson(h, "/api/activities", { message: `n${i}`, ttl: "1-day" }))
          .status,
        200,
      );
    }
    const first = await h.app.request("/api/activities/home");
    const page = await first.json() as Array<{ message: string }>;
    assert.equal(page.length, 20, "the default page");
    assert.equal(page[0]?.message, "n24");
    const seen = page.map((a) => a.message);
    let link = first.headers.get("link");
    while (link) {
      const next = /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
      assert.ok(next, link);
      const res = await h.app.request(next);
      seen.push(...(await res.json() as Array<{ message: string }>).map((a) => a.message));
      link = res.headers.get("link");
    }
    assert.equal(seen.length, 29, "25 posts and the 4 seeded, each once");
    assert.equal(new Set(seen).size, 29);
    const small = await h.app.request("/api/activities/@andrewbrown?limit=2");
    assert.equal((await small.json()).length, 2);
    assert.match(
      small.headers.get("link") ?? "",
      /^<\/api\/activities\/@andrewbrown\?limit=2&cursor=/,
    );
    for (const bad of ["0", "101", "-1", "abc", "1.5"]) {
      const res = await h.app.request(`/api/activities/home?limit=${bad}`);
      assert.equal(res.status, 400, bad);
      assert.deepEqual(await res.json(), ["invalid_limit"]);
    }
    for (const bad of ["x", "bm90IGEgY3Vyc29y", "%27%3B--"]) {
      const res = await h.app.request(`/api/activities/search?term=n&cursor=${bad}`);
      assert.equal(res.status, 400, bad);
      assert.deepEqual(await res.json(), ["invalid_cursor"]);
    }
  });
});

Deno.test("text PostgreSQL cannot hold verbatim (NUL, lone surrogates) is refused with 422", async () => {
  await withApp(async (h) => {
    for (const message of ["a\u0000b", "half \ud83d pair"]) {
      const res = await postJson(h, "/api/activities", { message, ttl: "1-day" });
      assert.equal(res.status, 422);
      assert.deepEqual(await res.json(), ["message_invalid_characters"]);
      const dm = await postJson(h, "/api/messages", { user_receiver_handle: "worf", message });
      assert.deepEqual(await dm.json(), ["message_invalid_characters"]);
    }
    const handle = await h.app.request("/api/activities/@a%00b");
    assert.equal(handle.status, 422);
    assert.deepEqual(await handle.json(), ["user_handle_invalid_characters"]);
    const term = await h.app.request("/api/activities/search?term=a%00");
    assert.deepEqual(await term.json(), ["search_term_invalid_characters"]);
    assert.equal((await h.app.request("/api/activities/home")).status, 200);
  });
});
