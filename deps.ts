/**
 * The production dependencies, for the image's dependency layer: `deno install --entrypoint
 * deps.ts` caches these packages (and only these: the test-only ones in deno.json, such as
 * playwright-core and yaml, stay out of the image). Never run. tests/containers_test.ts keeps
 * this list equal to the npm packages main.ts's module graph loads.
 */
import "@aws-sdk/client-cloudwatch-logs";
import "@electric-sql/pglite";
import "@opentelemetry/api";
import "@opentelemetry/core";
import "@opentelemetry/otlp-exporter-base";
import "@opentelemetry/otlp-transformer";
import "@opentelemetry/resources";
import "@opentelemetry/sdk-metrics";
import "@opentelemetry/sdk-trace-base";
import "hono";
import "postgres";
import "rollbar";
