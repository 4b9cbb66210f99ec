// Text from a record or a host reaches a terminal only with its control characters made
// visible: an upgrade result's error must not clear the screen, move the cursor or forge a line.

/**
 * C0 controls, DEL, C1 controls (0x9b is an 8-bit CSI), the line and paragraph separators, and
 * the bidirectional overrides and isolates (they reorder what the eye reads).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;
/** The same, except the newline and tab the CLI itself lays its lines out with. */
// eslint-disable-next-line no-control-regex -- as above
const UNSAFE_BUT_LAYOUT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

function escape(ch: string): string {
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** One field of stored or host-supplied text, fit for one line of human output. */
export function printable(text: unknown): string {
  return String(text).replace(UNSAFE, escape);
}

/** A block of lines the CLI formatted itself: newlines and tabs kept, every other control escaped. */
export function printableLines(text: string): string {
  return text.replace(UNSAFE_BUT_LAYOUT, escape);
}

/**
 * JSON for a terminal or a pipe. JSON.stringify escapes C0 controls already; DEL, C1 and the
 * separators it leaves raw are escaped too (still the same JSON value).
 */
export function printableJson(value: unknown): string {
  return (JSON.stringify(value) ?? "null").replace(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
