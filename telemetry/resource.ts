/**
 * The resource every recorded span points at: fixed string attributes known at startup, as
 * `@opentelemetry/resources`' `resourceFromAttributes` makes them, without loading that package
 * (and the semantic conventions it pulls in) before the server listens. Exporters and
 * processors read it through the same `Resource` interface.
 */
import type { Attributes } from "@opentelemetry/api";
import type { RawResourceAttribute, Resource } from "@opentelemetry/resources";

/** A resource of attributes that are all known now (no asynchronous detector). */
class StaticResource implements Resource {
  readonly attributes: Attributes;
  readonly schemaUrl: string | undefined;
  readonly asyncAttributesPending = false;

  constructor(attributes: Attributes, schemaUrl: string | undefined) {
    this.attributes = attributes;
    this.schemaUrl = schemaUrl;
  }

  waitForAsyncAttributes(): Promise<void> {
    return Promise.resolve();
  }

  getRawAttributes(): RawResourceAttribute[] {
    return Object.entries(this.attributes);
  }

  /**
   * As the SDK merges: `other`'s attributes win; a schema URL set on one side is kept, two
   * different ones cancel out.
   */
  merge(other: Resource | null): Resource {
    if (other == null) return this;
    const mine = this.schemaUrl || undefined;
    const theirs = other.schemaUrl || undefined;
    const schemaUrl = mine === undefined || theirs === undefined || mine === theirs
      ? mine ?? theirs
      : undefined;
    return new StaticResource({ ...this.attributes, ...other.attributes }, schemaUrl);
  }
}

/** A resource of these attributes (null and undefined values left out, as the SDK does). */
export function staticResource(attributes: Attributes, schemaUrl?: string): Resource {
  const kept: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (value != null) kept[key] = value;
  }
  return new StaticResource(kept, schemaUrl);
}
