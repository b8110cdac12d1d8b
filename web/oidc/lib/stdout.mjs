// Keeps stdout for the one start-up JSON line: everything logged via console goes to stderr.
//
// Import this module before oidc-provider: the provider prints notices with console.info.

console.log = console.error;
console.info = console.error;
console.debug = console.error;

let announced = false;

/** Writes `value` as the single JSON line on stdout; a second call is a bug. */
export function announce(value) {
  if (announced) throw new Error('the start-up line was already written');
  announced = true;
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** One line on stderr, prefixed so it stands out in a parent's test output. */
export function log(message) {
  process.stderr.write(`[oidc-provider] ${message}\n`);
}
