import assert from "node:assert/strict";
import { charLength, isBlank, messageErrors } from "../../services/validate.ts";

Deno.test("charLength() counts code points, as Python's len() did", () => {
  assert.equal(charLength(""), 0);
  assert.equal(charLength("abc"), 3);
  assert.equal(charLength("\u{1F984}"), 1);
  assert.equal(charLength("caf\u00e9"), 4);
  // A combining accent is its own code point, as in Python.
  assert.equal(charLength("cafe\u0301"), 5);
});

Deno.test("isBlank() is true for non-strings and whitespace only", () => {
  for (const value of [undefined, null, 0, false, [], {}, "", " ", "\t\n\u00a0"]) {
    assert.equal(isBlank(value), true, JSON.stringify(value));
  }
  assert.equal(isBlank("a"), false);
  assert.equal(isBlank(" a "), false);
});

Deno.test("messageErrors() reports blank first, then length past the limit only", () => {
  assert.deepEqual(messageErrors("", 3), ["message_blank"]);
  assert.deepEqual(messageErrors("abc", 3), []);
  assert.deepEqual(messageErrors("abcd", 3), ["message_exceed_max_chars"]);
  assert.deepEqual(messageErrors("\u{1F984}\u{1F984}\u{1F984}", 3), []);
});
