// expectStatus normalisation shared by both load tools.
// Accepted forms: 201, '2xx', [200, 304], ['2xx', 409]. Default: '2xx'.

export function statusRanges(expect = '2xx') {
  const items = Array.isArray(expect) ? expect : [expect];
  return items.map((item) => {
    if (typeof item === 'number') return [item, item];
    const m = /^([1-5])xx$/i.exec(String(item));
    if (!m) throw new Error(`invalid expectStatus entry: ${JSON.stringify(item)}`);
    const base = Number(m[1]) * 100;
    return [base, base + 99];
  });
}

export const statusMatches = (ranges, code) => ranges.some(([lo, hi]) => code >= lo && code <= hi);

export const isDefault2xx = (ranges) => ranges.length === 1 && ranges[0][0] === 200 && ranges[0][1] === 299;

// Same predicate as a Lua expression over the variable `status` (for wrk scripts).
export const statusLuaExpr = (ranges) => ranges.map(([lo, hi]) => `(status >= ${lo} and status <= ${hi})`).join(' or ');
