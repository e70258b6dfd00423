/**
 * The prebuilt PGlite cluster a new DATA_DIR is copied from: an empty directory becomes that
 * cluster (the same system identifier, so no initdb ran) and keeps what is written to it across
 * a reopen; a directory holding anything is never touched; no template, no copy.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openPglite } from "../../services/store/pglite.ts";
import {
  DEFAULT_TEMPLATE,
  fillFromTemplate,
  makeTemplate,
  PGLITE_VERSION,
} from "../../services/store/pglite_template.ts";

const SYSTEM_ID = "SELECT system_identifier::text AS id FROM pg_control_system()";

async function systemId(dataDir: string): Promise<string> {
  const db = await openPglite(dataDir, { template: null });
  try {
    const [row] = await db.query<{ id: string }>(SYSTEM_ID, []);
    return row!.id;
  } finally {
    await db.close();
  }
}

Deno.test("PGLITE_VERSION is the PGlite deno.json pins, which names the template", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(
    config.imports["@electric-sql/pglite"],
    `npm:@electric-sql/pglite@${PGLITE_VERSION}`,
  );
  assert.match(DEFAULT_TEMPLATE, new RegExp(`/\\.cache/pglite-${PGLITE_VERSION}-template$`));
});

Deno.test("a new DATA_DIR starts as a copy of the template", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "cruddur-template-" });
  const template = join(root, "template");
  try {
    assert.equal(await makeTemplate(template), true);
    assert.equal(await makeTemplate(template), false, "an existing template is kept");
    const templateId = await systemId(template);

    await t.step(
      "an empty directory becomes the template's cluster and keeps its writes",
      async () => {
        const dataDir = join(root, "data");
        await Deno.mkdir(dataDir);
        const db = await openPglite(dataDir, { template });
        try {
          const [row] = await db.query<{ id: string }>(SYSTEM_ID, []);
          assert.equal(row!.id, templateId, "copied, not initdb'd");
          await db.exec("CREATE TABLE kept (note text)");
          await db.query("INSERT INTO kept VALUES ($1)", ["still here 😀"]);
        } finally {
          await db.close();
        }
        const again = await openPglite(dataDir, { template });
        try {
          assert.deepEqual(await again.query("SELECT note FROM kept", []), [{
            note: "still here 😀",
          }]);
        } finally {
          await again.close();
        }
        // The template itself is untouched by what the copy did.
        const original = await openPglite(template, { template: null });
        try {
          const [row] = await original.query<{ t: string | null }>(
            "SELECT to_regclass('kept')::text AS t",
            [],
          );
          assert.equal(row!.t, null);
        } finally {
          await original.close();
        }
      },
    );

    await t.step("a directory that holds anything is left as it is", async () => {
      const dataDir = join(root, "busy");
      await Deno.mkdir(dataDir);
      await Deno.writeTextFile(join(dataDir, "notes.txt"), "mine");
      assert.equal(await fillFromTemplate(dataDir, template), false);
      const names = [];
      for await (const entry of Deno.readDir(dataDir)) names.push(entry.name);
      assert.deepEqual(names, ["notes.txt"]);
    });

    await t.step("no template: nothing is copied", async () => {
      const dataDir = join(root, "plain");
      await Deno.mkdir(dataDir);
      assert.equal(await fillFromTemplate(dataDir, join(root, "missing")), false);
      for await (const _ of Deno.readDir(dataDir)) assert.fail("the directory must stay empty");
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
