/**
 * Empty an array that is refilled at once (a per-read or per-request list on the data path), keeping its backing
 * store: V8 frees an array's elements when its length is set to 0, so the next push allocates new ones (one
 * allocation per read or request); pops down to empty keep the capacity. An array longer than `keep` is emptied
 * with `length = 0` instead, so a burst (many frames in one read, many pipelined requests) leaves no large array
 * behind on a long-lived connection.
 */
export function emptyArray(a: unknown[], keep = 16): void {
  if (a.length > keep) a.length = 0;
  else while (a.length > 0) a.pop();
}
