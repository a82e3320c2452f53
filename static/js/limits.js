// Limits the server enforces, checked here first so that the page can say exactly what is wrong
// without a round trip. The server stays the authority (server/gradtrace/live.py).

export const MAX_CODE_BYTES = 64 * 1024; // live.py's MAX_CODE_BYTES, counted in UTF-8

const kib = (bytes) => `${Number((bytes / 1024).toFixed(1))} KiB`;

// Why the code may not be sent ("the code is 70.3 KiB; the limit is 64 KiB"), or null.
export function codeSizeProblem(code, limit = MAX_CODE_BYTES) {
  const bytes = new TextEncoder().encode(code).length;
  return bytes > limit ? `the code is ${kib(bytes)}; the limit is ${kib(limit)}` : null;
}
