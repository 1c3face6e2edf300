import { storableRow } from './contacts-import.staging';

const headers = ['First Name', 'Email', 'Notes'];

describe('storableRow', () => {
  it('stores ordinary rows as their JSON, not rejected', () => {
    const cells = ['Ann', 'ann@example.com', 'C:\\users\\ann'];
    expect(storableRow(cells, headers)).toEqual({ json: JSON.stringify(cells) });
  });

  it('keeps the literal text \\u0000 (six characters) as it is: valid JSON, same cells back', () => {
    const cells = ['\\u0000Lit', 'lit@example.com', 'a\\u0000b \\\\u0000'];
    const row = storableRow(cells, headers);
    expect(row.error).toBeUndefined();
    expect(JSON.parse(row.json)).toEqual(cells);
  });

  it('rejects a row holding a NUL character, naming the column, and keeps the rest of it readable', () => {
    const row = storableRow(['Nul', 'nul@example.com', 'a\u0000b'], headers);
    expect(row.error).toBe('"Notes" must not contain the NUL character (\\u0000)');
    expect(JSON.parse(row.json)).toEqual(['Nul', 'nul@example.com', 'a\ufffdb']);
    expect(row.json).not.toContain('\\u0000');
  });

  it('names a column past the header by its number, and catches unpaired surrogates too', () => {
    expect(storableRow(['a', 'b', 'c', 'd\u0000'], headers).error).toBe('column 4 must not contain the NUL character (\\u0000)');
    const surrogate = storableRow(['\ud800x', 'b', 'c'], headers);
    expect(surrogate.error).toBe('"First Name" must be well-formed Unicode (it holds an unpaired surrogate)');
    expect(JSON.parse(surrogate.json)[0]).toBe('\ufffdx');
  });
});
