// Tests read JSON bodies of many shapes; typing each one would add nothing to what they assert.
interface Response {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json(): Promise<any>;
}
