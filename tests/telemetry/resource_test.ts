import assert from "node:assert/strict";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { staticResource } from "../../telemetry/resource.ts";

Deno.test("the spans' resource reads as resourceFromAttributes' does, merge and schema URL included", async () => {
  const attributes = { "service.name": "backend-deno", "host.name": "h", "skipped": undefined };
  const ours = staticResource(attributes);
  const sdk = resourceFromAttributes(attributes);
  assert.deepEqual(ours.attributes, sdk.attributes);
  assert.deepEqual(ours.getRawAttributes(), sdk.getRawAttributes().filter(([, v]) => v != null));
  assert.equal(ours.asyncAttributesPending, false);
  assert.equal(ours.schemaUrl, sdk.schemaUrl);
  await ours.waitForAsyncAttributes?.();
  const other = resourceFromAttributes({ "host.name": "other", extra: 1 }, {
    schemaUrl: "https://opentelemetry.io/schemas/1.26.0",
  });
  assert.deepEqual(ours.merge(other).attributes, sdk.merge(other).attributes);
  assert.equal(ours.merge(other).schemaUrl, sdk.merge(other).schemaUrl);
  assert.equal(ours.merge(null), ours);
  const conflicting = staticResource({}, "https://example.com/a").merge(
    resourceFromAttributes({}, { schemaUrl: "https://example.com/b" }),
  );
  assert.equal(conflicting.schemaUrl, undefined, "two different schema URLs cancel out");
});
